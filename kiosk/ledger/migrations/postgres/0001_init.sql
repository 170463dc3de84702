-- 0001: the quota ledger on PostgreSQL: declarations, the per-resident-day lock rows, and the functions
-- that make every ledger call one round trip. Applied by kiosk/ledger/pg_schema.py inside one transaction,
-- which then records the version in schema_migrations. Times are timestamptz (microseconds, like Python);
-- days are the Asia/Shanghai calendar date, decided by the caller. Money is integer fen (bigint).
-- The rules mirror the SQLite back-end exactly (kiosk/ledger/sqlite.py); the contract suite checks both.

CREATE TABLE schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (resident, day), locked FOR UPDATE by every hold of that resident-day: holds of the same
-- resident-day queue on it for the few microseconds of ledger_hold; everyone else runs in parallel.
CREATE TABLE resident_days (
    resident_key text NOT NULL,
    day          date NOT NULL,
    PRIMARY KEY (resident_key, day)
);

CREATE TABLE declarations (
    id             text PRIMARY KEY,
    kiosk_id       text NOT NULL,
    resident_key   text NOT NULL,            -- keyed hash (HMAC) of the ID number, never the number
    masked_id      text NOT NULL,
    day            date NOT NULL,
    created_at     timestamptz NOT NULL,     -- when the kiosk built the declaration
    lines_json     text NOT NULL,            -- text, not jsonb: stored exactly as the kiosk wrote it
    total_fen      bigint NOT NULL CHECK (total_fen >= 0),
    limit_fen      bigint NOT NULL CHECK (limit_fen >= 0),
    rule_version   text NOT NULL,
    status         text NOT NULL
                   CHECK (status IN ('held', 'committed', 'released', 'expired', 'referred')),
    reasons_json   text NOT NULL DEFAULT '[]',
    recorded_at    timestamptz NOT NULL,     -- when the ledger first recorded it (hold or refer)
    expires_at     timestamptz,              -- NULL for a declaration that was never held
    resolved_at    timestamptz,              -- when it left 'held' (or was referred)
    hold_used_fen  bigint,                   -- used quota right after the accepted hold: replayed on retry
    CHECK ((expires_at IS NULL) = (hold_used_fen IS NULL)),
    CHECK (status <> 'held' OR expires_at IS NOT NULL)
);

-- The quota sum reads one resident-day at a time.
CREATE INDEX declarations_resident_day ON declarations (resident_key, day);
-- expire_holds scans only live holds by expiry.
CREATE INDEX declarations_held_expiry ON declarations (expires_at) WHERE status = 'held';

-- The quota rule (kiosk/ledger/__init__.py): committed, plus held or expired holds until expires_at + GRACE.
-- The caller passes p_cutoff = now - GRACE, so GRACE is defined in one place (Python). plpgsql, not sql: a
-- non-inlinable SQL function is planned again on every call; plpgsql keeps the plan for the session.
CREATE FUNCTION ledger_used(p_resident_key text, p_day date, p_cutoff timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT COALESCE(SUM(total_fen), 0)::bigint FROM declarations
             WHERE resident_key = p_resident_key AND day = p_day
               AND (status = 'committed' OR (status IN ('held', 'expired') AND expires_at > p_cutoff)));
END
$$;

-- The hold in one round trip and one (autocommit) transaction: lock the resident-day, then check and insert.
-- VOLATILE plpgsql at READ COMMITTED: every statement takes a fresh snapshot, so the sum that follows the
-- row lock sees every hold committed by whoever held the lock before us. Outcome 'conflict' means the id is
-- already recorded with another resident, day or amount (the caller raises).
CREATE FUNCTION ledger_hold(
    p_id text, p_kiosk_id text, p_resident_key text, p_masked_id text, p_day date, p_created_at timestamptz,
    p_lines_json text, p_total_fen bigint, p_limit_fen bigint, p_rule_version text,
    p_now timestamptz, p_expires_at timestamptz, p_cutoff timestamptz,
    OUT o_outcome text, OUT o_used_fen bigint, OUT o_limit_fen bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r declarations%ROWTYPE;
BEGIN
    INSERT INTO resident_days (resident_key, day) VALUES (p_resident_key, p_day) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM resident_days WHERE resident_key = p_resident_key AND day = p_day FOR UPDATE;
    SELECT * INTO r FROM declarations WHERE id = p_id;
    IF NOT FOUND THEN
        o_used_fen := ledger_used(p_resident_key, p_day, p_cutoff);
        o_limit_fen := p_limit_fen;
        IF o_used_fen + p_total_fen > p_limit_fen THEN
            o_outcome := 'refused';  -- nothing is stored: a retry is a fresh attempt
            RETURN;
        END IF;
        o_used_fen := o_used_fen + p_total_fen;
        INSERT INTO declarations (id, kiosk_id, resident_key, masked_id, day, created_at, lines_json, total_fen,
                                  limit_fen, rule_version, status, reasons_json, recorded_at, expires_at,
                                  resolved_at, hold_used_fen)
        VALUES (p_id, p_kiosk_id, p_resident_key, p_masked_id, p_day, p_created_at, p_lines_json, p_total_fen,
                p_limit_fen, p_rule_version, 'held', '[]', p_now, p_expires_at, NULL, o_used_fen)
        ON CONFLICT (id) DO NOTHING;
        IF FOUND THEN
            o_outcome := 'accepted';
            RETURN;
        END IF;
        -- A concurrent call recorded this id since we looked (a refer, or a hold of another resident-day).
        SELECT * INTO STRICT r FROM declarations WHERE id = p_id;
    END IF;
    IF (r.resident_key, r.day, r.total_fen) IS DISTINCT FROM (p_resident_key, p_day, p_total_fen) THEN
        o_outcome := 'conflict';
        RETURN;
    END IF;
    IF r.hold_used_fen IS NOT NULL THEN  -- the first call was accepted: return exactly what it returned
        o_outcome := 'accepted';
        o_used_fen := r.hold_used_fen;
        o_limit_fen := r.limit_fen;
        RETURN;
    END IF;
    o_outcome := 'refused';  -- recorded by refer, never held
    o_used_fen := ledger_used(p_resident_key, p_day, p_cutoff);
    o_limit_fen := p_limit_fen;
END
$$;

-- Commit a live hold, or mark it expired. Returns the resulting status; NULL for an unknown id. No lock row:
-- held and committed both count, so the sum does not change; a commit racing an expiry is covered by GRACE.
CREATE FUNCTION ledger_commit(p_id text, p_now timestamptz) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s text;
BEGIN
    UPDATE declarations
       SET status = CASE WHEN expires_at > p_now THEN 'committed' ELSE 'expired' END,
           reasons_json = CASE WHEN expires_at > p_now THEN '[]' ELSE '["hold_expired"]' END,
           resolved_at = p_now
     WHERE id = p_id AND status = 'held'
    RETURNING status INTO s;
    IF NOT FOUND THEN
        SELECT status INTO s FROM declarations WHERE id = p_id;
    END IF;
    RETURN s;
END
$$;

-- Release a hold (its quota returns at once). Returns the resulting status; NULL for an unknown id; the
-- caller raises for 'committed'. Giving quota back needs no lock: a concurrent hold at worst sees more used.
CREATE FUNCTION ledger_release(p_id text, p_now timestamptz, p_reasons_json text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s text;
BEGIN
    UPDATE declarations SET status = 'released', reasons_json = p_reasons_json, resolved_at = p_now
     WHERE id = p_id AND status = 'held'
    RETURNING status INTO s;
    IF NOT FOUND THEN
        SELECT status INTO s FROM declarations WHERE id = p_id;
    END IF;
    RETURN s;
END
$$;

-- Record a referral (no quota), or turn a non-final record into one. Returns 'recorded', 'conflict'
-- (the id holds another resident, day or amount) or 'committed' (final: the caller raises).
CREATE FUNCTION ledger_refer(
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
    IF r.status = 'committed' THEN
        RETURN 'committed';
    END IF;
    IF r.status <> 'referred' THEN
        -- A hold that expired, was released or must not go ahead: the officer decides now, so its quota
        -- is given back at once, as a release would.
        UPDATE declarations SET status = 'referred', reasons_json = p_reasons_json, resolved_at = p_now
         WHERE id = p_id;
    END IF;
    RETURN 'recorded';
END
$$;
