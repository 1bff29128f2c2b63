-- 014: where an attempt's money went (workbench/pricing.py, litellm's cost function over a token
-- breakdown). Token parts are subsets of prompt_tokens / completion_tokens (OpenAI's usage convention);
-- the cost parts sum to cost_usd for a model call (0 for a human's answer, whose cost_usd is the
-- person's price); standard_cost_usd is the same tokens at the standard tier (batch_savings_usd).
ALTER TABLE attempts ADD COLUMN cached_tokens INTEGER DEFAULT 0;
ALTER TABLE attempts ADD COLUMN cache_write_tokens INTEGER DEFAULT 0;
ALTER TABLE attempts ADD COLUMN reasoning_tokens INTEGER DEFAULT 0;
ALTER TABLE attempts ADD COLUMN tier VARCHAR DEFAULT 'standard';
ALTER TABLE attempts ADD COLUMN cost_input_usd DOUBLE DEFAULT 0;
ALTER TABLE attempts ADD COLUMN cost_cached_input_usd DOUBLE DEFAULT 0;
ALTER TABLE attempts ADD COLUMN cost_cache_write_usd DOUBLE DEFAULT 0;
ALTER TABLE attempts ADD COLUMN cost_output_usd DOUBLE DEFAULT 0;
ALTER TABLE attempts ADD COLUMN cost_reasoning_usd DOUBLE DEFAULT 0;
ALTER TABLE attempts ADD COLUMN standard_cost_usd DOUBLE DEFAULT 0;
