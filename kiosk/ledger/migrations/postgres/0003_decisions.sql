-- 0003: officers' decisions on referrals (PostgreSQL). Applied by kiosk/ledger/pg_schema.py in one transaction.
-- Mirrors migrations/sqlite/0003_decisions.sql.
--
-- A 'referred' declaration of today becomes 'approved', 'taxed' or 'rejected' by ledger_decide. An approved one
-- counts its duty_free_fen (min(total, remaining) when approved) against the quota: ledger_used is replaced, and
-- ledger_hold, which calls it, follows with no change. An approved declaration can be voided (ledger_void), which
-- gives its duty-free part back; its decision stays recorded. ledger_refer leaves a decided referral as it is.

ALTER TABLE declarations DROP CONSTRAINT declarations_status_check;
ALTER TABLE declarations ADD CONSTRAINT declarations_status_check
    CHECK (status IN ('held', 'committed', 'released', 'expired', 'referred', 'voided', 'approved', 'taxed',
                      'rejected'));
-- The decision's columns, all NULL until ledger_decide sets them together: decision = the status it gives
-- ('approved', 'taxed', 'rejected'; an approved row may later become 'voided'), duty_free_fen in 0..total_fen and 0
-- unless approved. ledger_decide is their only writer and keeps these rules. Unlike SQLite (0003 there), they are
-- not CHECK constraints here: PostgreSQL prepares every CHECK expression of the table again on each INSERT and
-- UPDATE statement, and these five made ledger_commit take 190 instead of 125 us of server time (measured with
-- benchmarks/bench_ledger.py's load; see 0005), on every commit and release, for rules only ledger_decide touches.
ALTER TABLE declarations
    ADD COLUMN decision        text,         -- the officer's decision
    ADD COLUMN decided_by      text,         -- the officer who decided the referral
    ADD COLUMN decision_reason text,         -- the officer's reason code
    ADD COLUMN decision_note   text,         -- the officer's free note ('' for none)
    ADD COLUMN decided_at      timestamptz,
    ADD COLUMN duty_free_fen   bigint;       -- approved: the part counted against the quota; else 0

-- list_day, referrals and the export read one day across every resident (the officer console polls referrals).
-- day never changes, so this index does not stop commit and release from being HOT updates.
CREATE INDEX declarations_day ON declarations (day);

-- The quota rule (kiosk/ledger/__init__.py): committed and approved, plus held or expired holds until
-- expires_at + GRACE; an approved referral counts its duty-free part only.
CREATE OR REPLACE FUNCTION ledger_used(p_resident_key text, p_day date, p_cutoff timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT COALESCE(SUM(CASE WHEN status = 'approved' THEN duty_free_fen ELSE total_fen END), 0)::bigint
              FROM declarations
             WHERE resident_key = p_resident_key AND day = p_day
               AND (status IN ('committed', 'approved') OR (status IN ('held', 'expired') AND expires_at > p_cutoff)));
END
$$;

-- An officer's decision on a referral of p_today, in one round trip. An approval takes the resident-day's lock row
-- exactly as ledger_hold does, then sums and records, so the duty-free part and every concurrent hold or approval
-- of that resident-day are serialised: they cannot spend the same quota twice. The declaration's own row is locked
-- (FOR UPDATE, after the lock row: always in that order, so no deadlock with a hold) and read again, so two officers
-- deciding one referral at once see each other. Outcome: 'done' (decided now), 'repeat' (this decision was already
-- recorded), 'conflict' (another decision was), 'refused' (not referred, or not of p_today), 'unknown' (no such id);
-- o_status, o_day and o_decision describe the row for the caller's message.
CREATE FUNCTION ledger_decide(
    p_id text, p_now timestamptz, p_today date, p_officer text, p_decision text, p_reason text, p_note text,
    p_cutoff timestamptz, OUT o_outcome text, OUT o_status text, OUT o_day date, OUT o_decision text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r declarations%ROWTYPE;
    v_free bigint := 0;
BEGIN
    SELECT * INTO r FROM declarations WHERE id = p_id;
    IF NOT FOUND THEN
        o_outcome := 'unknown';
        RETURN;
    END IF;
    IF p_decision = 'approved' AND r.decision IS NULL AND r.status = 'referred' AND r.day = p_today THEN
        INSERT INTO resident_days (resident_key, day) VALUES (r.resident_key, r.day) ON CONFLICT DO NOTHING;
        PERFORM 1 FROM resident_days WHERE resident_key = r.resident_key AND day = r.day FOR UPDATE;
    END IF;
    SELECT * INTO STRICT r FROM declarations WHERE id = p_id FOR UPDATE;
    o_status := r.status;
    o_day := r.day;
    o_decision := r.decision;
    IF r.decision IS NOT NULL THEN
        o_outcome := CASE WHEN r.decision = p_decision THEN 'repeat' ELSE 'conflict' END;
        RETURN;
    END IF;
    IF r.status <> 'referred' OR r.day <> p_today THEN
        o_outcome := 'refused';
        RETURN;
    END IF;
    IF p_decision NOT IN ('approved', 'taxed', 'rejected') THEN  -- the caller checked; the columns have no CHECK
        RAISE EXCEPTION 'unknown decision %', p_decision USING ERRCODE = 'check_violation';
    END IF;
    IF p_decision = 'approved' THEN
        -- The goods caps are not checked: the officer judged the goods. Their quantities count from now on.
        v_free := LEAST(r.total_fen, GREATEST(0, r.limit_fen - ledger_used(r.resident_key, r.day, p_cutoff)));
    END IF;
    UPDATE declarations
       SET status = p_decision, decision = p_decision, decided_by = p_officer, decision_reason = p_reason,
           decision_note = p_note, decided_at = p_now, duty_free_fen = v_free
     WHERE id = p_id;
    o_outcome := 'done';
    o_status := p_decision;
    o_decision := p_decision;
END
$$;

-- As 0002, except that an approved declaration of p_today can be voided too (its duty-free part returns at once).
CREATE OR REPLACE FUNCTION ledger_void(p_id text, p_now timestamptz, p_today date, p_officer text, p_reason text,
                                       OUT o_status text, OUT o_day date)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    UPDATE declarations SET status = 'voided', voided_by = p_officer, void_reason = p_reason, voided_at = p_now
     WHERE id = p_id AND status IN ('committed', 'approved') AND day = p_today
    RETURNING status, day INTO o_status, o_day;
    IF NOT FOUND THEN
        SELECT status, day INTO o_status, o_day FROM declarations WHERE id = p_id;
    END IF;
END
$$;

-- As 0002, except that a decided referral (approved, taxed, rejected) stays as it is: 'recorded', nothing changed.
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
    IF r.status NOT IN ('referred', 'approved', 'taxed', 'rejected') THEN
        UPDATE declarations SET status = 'referred', reasons_json = p_reasons_json, resolved_at = p_now
         WHERE id = p_id;
    END IF;
    RETURN 'recorded';
END
$$;
