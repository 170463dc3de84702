-- 0001: the declarations table of the quota ledger (SQLite).
-- Applied inside one transaction by kiosk/ledger/sqlite.py, which then sets PRAGMA user_version = 1.
-- Times are ISO-8601 UTC text of fixed width (YYYY-MM-DDTHH:MM:SS.ffffffZ), so text order is time order;
-- days are ISO dates (the Asia/Shanghai calendar day, decided by the caller). Money is integer fen.

CREATE TABLE schema_migrations (
    version INTEGER PRIMARY KEY,
    name    TEXT NOT NULL
) STRICT;

CREATE TABLE declarations (
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
                   CHECK (status IN ('held', 'committed', 'released', 'expired', 'referred')),
    reasons_json   TEXT NOT NULL DEFAULT '[]',
    recorded_at    TEXT NOT NULL,            -- when the ledger first recorded it (hold or refer)
    expires_at     TEXT,                     -- NULL for a declaration that was never held
    resolved_at    TEXT,                     -- when it left 'held' (or was referred)
    hold_used_fen  INTEGER,                  -- used quota right after the accepted hold: replayed on retry
    CHECK ((expires_at IS NULL) = (hold_used_fen IS NULL)),
    CHECK (status <> 'held' OR expires_at IS NOT NULL)
) STRICT;

-- The quota sum reads one resident-day at a time.
CREATE INDEX declarations_resident_day ON declarations (resident_key, day);
-- expire_holds scans held rows by expiry.
CREATE INDEX declarations_status_expiry ON declarations (status, expires_at);
