-- 0003: officers' decisions on referrals (SQLite).
-- SQLite cannot change a CHECK constraint in place, so declarations is rebuilt (inside the migration's one
-- transaction, by kiosk/ledger/migrate.py) with the statuses 'approved', 'taxed' and 'rejected' and the decision's
-- officer, decision, reason code, note, time and duty-free part. Only a 'referred' row is decided; an 'approved'
-- row counts its duty_free_fen against the quota (kiosk/ledger/sqlite.py _USED), 'taxed' and 'rejected' nothing.
-- An approved declaration may later be voided: its decision stays recorded, with status 'voided'.

CREATE TABLE declarations_v3 (
    id             TEXT PRIMARY KEY,
    kiosk_id       TEXT NOT NULL,
    resident_key   TEXT NOT NULL,            -- keyed hash (HMAC) of the ID number, never the number
    masked_id      TEXT NOT NULL,
    day            TEXT NOT NULL,            -- ISO date
    created_at     TEXT NOT NULL,            -- when the kiosk built the declaration
    lines_json     TEXT NOT NULL,
    total_fen      INTEGER NOT NULL CHECK (total_fen >= 0),
    limit_fen      INTEGER NOT NULL CHECK (limit_fen >= 0),
    rule_version   TEXT NOT NULL,
    status         TEXT NOT NULL
                   CHECK (status IN ('held', 'committed', 'released', 'expired', 'referred', 'voided',
                                     'approved', 'taxed', 'rejected')),
    reasons_json   TEXT NOT NULL DEFAULT '[]',
    recorded_at    TEXT NOT NULL,            -- when the ledger first recorded it (hold or refer)
    expires_at     TEXT,                     -- NULL for a declaration that was never held
    resolved_at    TEXT,                     -- when it left 'held' (or was referred); kept when decided or voided
    hold_used_fen  INTEGER,                  -- used quota right after the accepted hold: replayed on retry
    voided_by      TEXT,                     -- the officer who voided it
    void_reason    TEXT,
    voided_at      TEXT,
    decision       TEXT CHECK (decision IN ('approved', 'taxed', 'rejected')),
    decided_by     TEXT,                     -- the officer who decided the referral
    decision_reason TEXT,                    -- the officer's reason code
    decision_note  TEXT,                     -- the officer's free note ('' for none)
    decided_at     TEXT,
    duty_free_fen  INTEGER,                  -- approved: the part counted against the quota; else 0
    CHECK ((expires_at IS NULL) = (hold_used_fen IS NULL)),
    CHECK (status <> 'held' OR expires_at IS NOT NULL),
    CHECK ((status = 'voided') = (voided_at IS NOT NULL)),
    CHECK ((voided_at IS NULL) = (voided_by IS NULL) AND (voided_at IS NULL) = (void_reason IS NULL)),
    CHECK ((decision IS NULL) = (decided_at IS NULL) AND (decision IS NULL) = (decided_by IS NULL)
           AND (decision IS NULL) = (decision_reason IS NULL) AND (decision IS NULL) = (decision_note IS NULL)
           AND (decision IS NULL) = (duty_free_fen IS NULL)),
    CHECK (status NOT IN ('approved', 'taxed', 'rejected') OR decision = status),
    CHECK (decision IS NULL OR status = decision OR (status = 'voided' AND decision = 'approved')),
    CHECK (duty_free_fen IS NULL
           OR (duty_free_fen BETWEEN 0 AND total_fen AND (decision = 'approved' OR duty_free_fen = 0)))
) STRICT;

INSERT INTO declarations_v3 (id, kiosk_id, resident_key, masked_id, day, created_at, lines_json, total_fen,
                             limit_fen, rule_version, status, reasons_json, recorded_at, expires_at, resolved_at,
                             hold_used_fen, voided_by, void_reason, voided_at)
SELECT id, kiosk_id, resident_key, masked_id, day, created_at, lines_json, total_fen, limit_fen, rule_version,
       status, reasons_json, recorded_at, expires_at, resolved_at, hold_used_fen, voided_by, void_reason, voided_at
  FROM declarations;

DROP TABLE declarations;
ALTER TABLE declarations_v3 RENAME TO declarations;
CREATE INDEX declarations_resident_day ON declarations (resident_key, day);
CREATE INDEX declarations_status_expiry ON declarations (status, expires_at);
-- list_day, referrals and the export read one day across every resident.
CREATE INDEX declarations_day ON declarations (day);
