-- 0002: officers' voids and the audit chain (SQLite).
-- SQLite cannot change a CHECK constraint in place, so declarations is rebuilt (inside the migration's one
-- transaction, by kiosk/ledger/migrate.py) with the new status 'voided' and the void's officer, reason and time.
-- A voided declaration counts no quota: the quota rule (kiosk/ledger/sqlite.py _USED) counts only
-- 'committed', 'held' and 'expired'.

CREATE TABLE declarations_v2 (
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
                   CHECK (status IN ('held', 'committed', 'released', 'expired', 'referred', 'voided')),
    reasons_json   TEXT NOT NULL DEFAULT '[]',
    recorded_at    TEXT NOT NULL,            -- when the ledger first recorded it (hold or refer)
    expires_at     TEXT,                     -- NULL for a declaration that was never held
    resolved_at    TEXT,                     -- when it left 'held' (or was referred); kept when voided
    hold_used_fen  INTEGER,                  -- used quota right after the accepted hold: replayed on retry
    voided_by      TEXT,                     -- the officer who voided it
    void_reason    TEXT,
    voided_at      TEXT,
    CHECK ((expires_at IS NULL) = (hold_used_fen IS NULL)),
    CHECK (status <> 'held' OR expires_at IS NOT NULL),
    CHECK ((status = 'voided') = (voided_at IS NOT NULL)),
    CHECK ((voided_at IS NULL) = (voided_by IS NULL) AND (voided_at IS NULL) = (void_reason IS NULL))
) STRICT;

INSERT INTO declarations_v2 (id, kiosk_id, resident_key, masked_id, day, created_at, lines_json, total_fen,
                             limit_fen, rule_version, status, reasons_json, recorded_at, expires_at, resolved_at,
                             hold_used_fen)
SELECT id, kiosk_id, resident_key, masked_id, day, created_at, lines_json, total_fen, limit_fen, rule_version,
       status, reasons_json, recorded_at, expires_at, resolved_at, hold_used_fen
  FROM declarations;

DROP TABLE declarations;
ALTER TABLE declarations_v2 RENAME TO declarations;
CREATE INDEX declarations_resident_day ON declarations (resident_key, day);
CREATE INDEX declarations_status_expiry ON declarations (status, expires_at);

-- The audit chain (kiosk/audit.py): one hash chain per kiosk, so the kiosks of a port never contend on
-- one head. hash = SHA-256(prev_hash + canonical JSON of the record); seq counts 1, 2, ... per kiosk.
CREATE TABLE audit (
    kiosk_id   TEXT NOT NULL,
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    at         TEXT NOT NULL,                -- fixed-width ISO-8601 UTC, exactly as hashed
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    data_json  TEXT NOT NULL,                -- canonical JSON (sorted keys); no personal data
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (kiosk_id, seq)
) STRICT;

-- The head of each chain: the last seq and hash, updated with every append. It lets verify notice
-- records cut from the end of a chain, which the links alone cannot show.
CREATE TABLE audit_heads (
    kiosk_id   TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL,
    hash       TEXT NOT NULL
) STRICT;
