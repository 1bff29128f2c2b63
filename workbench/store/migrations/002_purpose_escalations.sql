-- 002: why each attempt was made, and two more per-request counters.
-- attempts.purpose: 'answer' (the request's answer, retries and fallbacks included), 'route' (a
-- model consulted by the policy before routing, e.g. the classifier), 'escalation' (a cascade's
-- next model after the previous answer failed its check). requests.escalations counts the latter;
-- requests.skips counts targets skipped because their circuit breaker was open (no call made).
ALTER TABLE attempts ADD COLUMN purpose VARCHAR DEFAULT 'answer';
ALTER TABLE requests ADD COLUMN escalations INTEGER DEFAULT 0;
ALTER TABLE requests ADD COLUMN skips INTEGER DEFAULT 0;
