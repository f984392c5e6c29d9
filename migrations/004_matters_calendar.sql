-- Matters, delegation lists and the calendar: what the importers and the API need beyond 003.

-- An owner department set by a person (API/CLI) survives a re-import of the standard;
-- one derived from the 主管部门 text by the keyword rules is recomputed on every import.
ALTER TABLE matters ADD COLUMN owner_department_manual boolean NOT NULL DEFAULT false;
ALTER TABLE matters ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX matters_kind_code ON matters (kind, code);

-- "Which list was in force for this township at that moment": one range scan.
CREATE INDEX delegation_lists_in_force ON delegation_lists (enforcement_code, effective_from DESC);
CREATE INDEX delegation_items_matter ON delegation_items (matter_code);

CREATE INDEX calendar_days_day ON calendar_days (day);
