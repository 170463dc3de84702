-- 0004: quantities of capped goods rules, checked by the hold in the same round trip as the money (PostgreSQL).
-- Mirrors migrations/sqlite/0004_rule_uses.sql. Applied by kiosk/ledger/pg_schema.py in one transaction.
--
-- Concurrency: the caps are per resident-day, like the money, so the lock row of resident_days that ledger_hold
-- already takes covers both: under it the hold sums the quota and every capped rule it uses, and inserts the
-- declaration with its rule uses, in one transaction. Two kiosks racing for a resident's last kilograms of a rule
-- queue on that row; the second sees the first's rows (a fresh READ COMMITTED snapshot after the lock). Rule uses
-- are never updated: whether they count follows their declaration's status exactly as money does, and
-- ledger_decide (an approval) takes the same lock row. The hold stays one call of one function.

-- declaration_id is not a FOREIGN KEY: its trigger on declarations would run on every commit and release (server
-- time of ledger_commit +30 us, measured), while rule uses are only ever inserted by ledger_hold and ledger_refer,
-- in the transaction that inserts their declaration, and declarations are never deleted.
CREATE TABLE rule_uses (
    declaration_id text NOT NULL,            -- declarations.id
    ordinal        integer NOT NULL CHECK (ordinal >= 0),
    rule_id        text NOT NULL,            -- the rule and its version, e.g. 'sugar@2026-01-01'
    unit           text NOT NULL CHECK (unit IN ('piece', 'kg')),
    quantity       bigint NOT NULL CHECK (quantity >= 1),    -- grams for 'kg', pieces for 'piece'
    cap            bigint NOT NULL CHECK (cap >= 0),         -- the rule's cap per resident-day, same unit
    PRIMARY KEY (declaration_id, ordinal)
);

-- Store a declaration's rule uses in its order (parallel arrays, one element per RuleUse).
CREATE FUNCTION ledger_add_rule_uses(p_id text, p_rule_ids text[], p_units text[], p_quantities bigint[],
                                     p_caps bigint[]) RETURNS void
LANGUAGE sql VOLATILE AS $$
    INSERT INTO rule_uses (declaration_id, ordinal, rule_id, unit, quantity, cap)
    SELECT p_id, n.ord - 1, n.rule_id, n.unit, n.quantity, n.cap
      FROM unnest(p_rule_ids, p_units, p_quantities, p_caps) WITH ORDINALITY AS n(rule_id, unit, quantity, cap, ord);
$$;

-- The capped rules (in order of first use) that the declaration's quantities would take over their cap, given what
-- the declarations that count for the resident-day at p_cutoff already use. A rule named twice in one declaration
-- is summed and checked against the smaller cap (kiosk.ledger.cap_totals does the same on SQLite).
CREATE FUNCTION ledger_over_caps(p_resident_key text, p_day date, p_cutoff timestamptz, p_rule_ids text[],
                                 p_quantities bigint[], p_caps bigint[]) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT COALESCE(array_agg(want.rule_id ORDER BY want.first), '{}')
          FROM (SELECT n.rule_id, min(n.ord) AS first, sum(n.quantity) AS quantity, min(n.cap) AS cap
                  FROM unnest(p_rule_ids, p_quantities, p_caps) WITH ORDINALITY AS n(rule_id, quantity, cap, ord)
                 GROUP BY n.rule_id) AS want
          LEFT JOIN (SELECT u.rule_id, sum(u.quantity) AS quantity
                       FROM declarations d JOIN rule_uses u ON u.declaration_id = d.id
                      WHERE d.resident_key = p_resident_key AND d.day = p_day
                        AND (d.status IN ('committed', 'approved')
                             OR (d.status IN ('held', 'expired') AND d.expires_at > p_cutoff))
                        AND u.rule_id = ANY (p_rule_ids)
                      GROUP BY u.rule_id) AS used ON used.rule_id = want.rule_id
         WHERE COALESCE(used.quantity, 0) + want.quantity > want.cap);
END
$$;

-- As 0001, plus the goods caps: o_over_cap lists the rules the declaration would exceed, and then nothing is stored.
DROP FUNCTION ledger_hold(text, text, text, text, date, timestamptz, text, bigint, bigint, text, timestamptz,
                          timestamptz, timestamptz);
CREATE FUNCTION ledger_hold(
    p_id text, p_kiosk_id text, p_resident_key text, p_masked_id text, p_day date, p_created_at timestamptz,
    p_lines_json text, p_total_fen bigint, p_limit_fen bigint, p_rule_version text,
    p_now timestamptz, p_expires_at timestamptz, p_cutoff timestamptz,
    p_rule_ids text[], p_rule_units text[], p_rule_quantities bigint[], p_rule_caps bigint[],
    OUT o_outcome text, OUT o_used_fen bigint, OUT o_limit_fen bigint, OUT o_over_cap text[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r declarations%ROWTYPE;
BEGIN
    o_over_cap := '{}';
    INSERT INTO resident_days (resident_key, day) VALUES (p_resident_key, p_day) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM resident_days WHERE resident_key = p_resident_key AND day = p_day FOR UPDATE;
    SELECT * INTO r FROM declarations WHERE id = p_id;
    IF NOT FOUND THEN
        o_used_fen := ledger_used(p_resident_key, p_day, p_cutoff);
        o_limit_fen := p_limit_fen;
        IF cardinality(p_rule_ids) > 0 THEN
            o_over_cap := ledger_over_caps(p_resident_key, p_day, p_cutoff, p_rule_ids, p_rule_quantities,
                                           p_rule_caps);
        END IF;
        IF o_used_fen + p_total_fen > p_limit_fen OR cardinality(o_over_cap) > 0 THEN
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
            IF cardinality(p_rule_ids) > 0 THEN
                PERFORM ledger_add_rule_uses(p_id, p_rule_ids, p_rule_units, p_rule_quantities, p_rule_caps);
            END IF;
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

-- As 0003, plus the rule uses stored with a new referral (an approval counts them).
DROP FUNCTION ledger_refer(text, text, text, text, date, timestamptz, text, bigint, bigint, text, timestamptz, text);
CREATE FUNCTION ledger_refer(
    p_id text, p_kiosk_id text, p_resident_key text, p_masked_id text, p_day date, p_created_at timestamptz,
    p_lines_json text, p_total_fen bigint, p_limit_fen bigint, p_rule_version text,
    p_now timestamptz, p_reasons_json text,
    p_rule_ids text[], p_rule_units text[], p_rule_quantities bigint[], p_rule_caps bigint[]) RETURNS text
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
        IF cardinality(p_rule_ids) > 0 THEN
            PERFORM ledger_add_rule_uses(p_id, p_rule_ids, p_rule_units, p_rule_quantities, p_rule_caps);
        END IF;
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
        -- A hold that expired, was released or must not go ahead: the officer decides now, so its quota
        -- is given back at once, as a release would.
        UPDATE declarations SET status = 'referred', reasons_json = p_reasons_json, resolved_at = p_now
         WHERE id = p_id;
    END IF;
    RETURN 'recorded';
END
$$;
