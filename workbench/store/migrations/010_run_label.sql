-- 010: a run's label (workbench/store/runs.py): a short free text a user gives a run ("before the price
-- change", "candidate A") so that pickers, reports and the CLI name runs by scenario, label and date
-- instead of by their long ids. NULL when none was given.
ALTER TABLE runs ADD COLUMN label VARCHAR;
