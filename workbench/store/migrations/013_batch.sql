-- Batch lanes (workbench/replay/batching.py): an attempt that ran in a provider batch names its batch; a
-- request that entered a batch lane stores its deadline (seconds after its arrival) so that the read-out can
-- count deadline misses. NULL for everything else (every run before this migration included).
-- Planned as 012 in issue 14 (price 011, batch 012, steps 013); numbered 011 on the batch branch because
-- migrations must stay contiguous: renumber it after the price branch's 011 at merge.
ALTER TABLE attempts ADD COLUMN batch_id VARCHAR;
ALTER TABLE requests ADD COLUMN deadline_s DOUBLE;
