-- 0004: quantities of capped goods rules, summed per resident-day by the hold (SQLite).
-- One row per RuleUse of a declaration, in the declaration's order (ordinal 0, 1, ...), written with the
-- declaration (hold or refer) and never changed: whether it counts follows its declaration's status, exactly as
-- money does (kiosk/ledger/sqlite.py _RULES_USED), so the sum is found through declarations_resident_day.

-- declaration_id is declarations.id; as on PostgreSQL (see 0004 there) it is not declared a FOREIGN KEY: rule
-- uses are only inserted with their declaration, in its transaction, and declarations are never deleted.
CREATE TABLE rule_uses (
    declaration_id TEXT NOT NULL,
    ordinal        INTEGER NOT NULL CHECK (ordinal >= 0),
    rule_id        TEXT NOT NULL,            -- the rule and its version, e.g. 'sugar@2026-01-01'
    unit           TEXT NOT NULL CHECK (unit IN ('piece', 'kg')),
    quantity       INTEGER NOT NULL CHECK (quantity >= 1),   -- grams for 'kg', pieces for 'piece'
    cap            INTEGER NOT NULL CHECK (cap >= 0),        -- the rule's cap per resident-day, same unit
    PRIMARY KEY (declaration_id, ordinal)
) STRICT;
