-- 0002: officers' voids and the audit chain (PostgreSQL). Applied by kiosk/ledger/pg_schema.py in one
-- transaction. Mirrors migrations/sqlite/0002_void_audit.sql.
--
-- Quota: ledger_used (and so ledger_hold, which calls it) counts only 'committed', plus 'held' and 'expired'
-- within GRACE; a 'voided' row matches none of them, so it stops counting the moment it is voided, with no
-- change to those functions. ledger_refer is replaced: a voided declaration is final and is never turned
-- into a referral. ledger_commit and ledger_release return the status of a non-held row as it is, so they
-- return 'voided' unchanged.

ALTER TABLE declarations DROP CONSTRAINT declarations_status_check;
ALTER TABLE declarations ADD CONSTRAINT declarations_status_check
    CHECK (status IN ('held', 'committed', 'released', 'expired', 'referred', 'voided'));
ALTER TABLE declarations
    ADD COLUMN voided_by   text,             -- the officer who voided it
    ADD COLUMN void_reason text,
    ADD COLUMN voided_at   timestamptz,
    ADD CONSTRAINT declarations_voided_at_check CHECK ((status = 'voided') = (voided_at IS NOT NULL)),
    ADD CONSTRAINT declarations_void_fields_check
        CHECK ((voided_at IS NULL) = (voided_by IS NULL) AND (voided_at IS NULL) = (void_reason IS NULL));

-- Void a committed declaration of p_today (the caller's Asia/Shanghai day of its `now`): its quota returns at
-- once. One statement, no lock row: giving quota back cannot overspend (as ledger_release). Returns the status
-- after the call (NULL for an unknown id) and the declaration's day; the caller raises unless it is 'voided'.
CREATE FUNCTION ledger_void(p_id text, p_now timestamptz, p_today date, p_officer text, p_reason text,
                            OUT o_status text, OUT o_day date)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    UPDATE declarations SET status = 'voided', voided_by = p_officer, void_reason = p_reason, voided_at = p_now
     WHERE id = p_id AND status = 'committed' AND day = p_today
    RETURNING status, day INTO o_status, o_day;
    IF NOT FOUND THEN
        SELECT status, day INTO o_status, o_day FROM declarations WHERE id = p_id;
    END IF;
END
$$;

-- As 0001, except that 'voided' is final too: returns 'voided' (the caller raises) instead of referring it.
CREATE OR REPLACE FUNCTION ledger_refer(
    p_id text, p_kiosk_id text, p_resident_key text, p_masked_id text, p_day date, p_created_at timestamptz,
    p_lines_json text, p_total_fen bigint, p_limit_fen bigint, p_rule_version text,
    p_now timestamptz, p_reasons_json text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r declarations%ROWTYPE;
BEGIN
    INSERT INTO declarations (id, kiosk_id, resident_key, masked_id, day, created_at, lines_json, total_fen,
                              limit_fen, rule_version, status, reasons_json, recorded_at, expires_at,
                              resolved_at, hold_used_fen)
    VALUES (p_id, p_kiosk_id, p_resident_key, p_masked_id, p_day, p_created_at, p_lines_json, p_total_fen,
            p_limit_fen, p_rule_version, 'referred', p_reasons_json, p_now, NULL, p_now, NULL)
    ON CONFLICT (id) DO NOTHING;
    IF FOUND THEN
        RETURN 'recorded';
    END IF;
    SELECT * INTO STRICT r FROM declarations WHERE id = p_id FOR UPDATE;
    IF (r.resident_key, r.day, r.total_fen) IS DISTINCT FROM (p_resident_key, p_day, p_total_fen) THEN
        RETURN 'conflict';
    END IF;
    IF r.status IN ('committed', 'voided') THEN
        RETURN r.status;
    END IF;
    IF r.status <> 'referred' THEN
        UPDATE declarations SET status = 'referred', reasons_json = p_reasons_json, resolved_at = p_now
         WHERE id = p_id;
    END IF;
    RETURN 'recorded';
END
$$;

-- The audit chain (kiosk/audit.py): one hash chain per kiosk. Appends of one kiosk serialise on that kiosk's
-- audit_heads row (SELECT ... FOR UPDATE); kiosks never wait for each other.
CREATE TABLE audit (
    kiosk_id   text NOT NULL,
    seq        bigint NOT NULL CHECK (seq >= 1),
    at         timestamptz NOT NULL,         -- hashed as fixed-width ISO-8601 UTC text (microseconds)
    kind       text NOT NULL,
    actor      text NOT NULL,
    data_json  text NOT NULL,                -- canonical JSON (sorted keys), text so it is kept byte for byte
    prev_hash  text NOT NULL,
    hash       text NOT NULL,
    PRIMARY KEY (kiosk_id, seq)
);

CREATE TABLE audit_heads (
    kiosk_id   text PRIMARY KEY,
    seq        bigint NOT NULL,
    hash       text NOT NULL
);
