-- 001: runs, requests, attempts. Times are seconds from the run's start (virtual for simulated and
-- recorded runs, wall clock for live ones); money is USD.
-- requests and attempts have no PRIMARY KEY on purpose: maintaining DuckDB's index took about 40% of
-- the bulk-insert time (a one-off measurement while writing this, not kept as a script). Uniqueness
-- of (run_id, request_id) is the writer's job: one transaction per batch, each request written once
-- (tests/test_replay.py checks it).
CREATE TABLE runs (
    run_id            VARCHAR PRIMARY KEY,
    scenario          VARCHAR NOT NULL,
    scenario_yaml     VARCHAR NOT NULL,
    scenario_hash     VARCHAR NOT NULL,
    scenario_path     VARCHAR,
    traffic_path      VARCHAR NOT NULL,
    traffic_hash      VARCHAR NOT NULL,
    requests_planned  INTEGER NOT NULL,
    seed              BIGINT NOT NULL,
    mode              VARCHAR NOT NULL,      -- simulated | recorded | live | mixed
    model_modes       VARCHAR NOT NULL,      -- JSON: fleet model -> provider kind
    workbench_version VARCHAR NOT NULL,
    status            VARCHAR NOT NULL,      -- running | completed | failed | cancelled
    started_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP,
    note              VARCHAR
);

CREATE TABLE requests (
    run_id            VARCHAR NOT NULL,
    seq               INTEGER NOT NULL,      -- position in arrival order
    request_id        VARCHAR NOT NULL,
    category          VARCHAR,
    difficulty        DOUBLE,
    arrival_s         DOUBLE NOT NULL,
    start_s           DOUBLE NOT NULL,       -- when a concurrency slot was free
    end_s             DOUBLE NOT NULL,
    latency_s         DOUBLE NOT NULL,       -- end_s - arrival_s: what the user waited
    policy            VARCHAR NOT NULL,
    route             VARCHAR,               -- the policy's first target
    reason            VARCHAR,
    decision_score    DOUBLE,
    final_target      VARCHAR,               -- who produced the answer (NULL if none did)
    status            VARCHAR NOT NULL,      -- ok | failed | rejected
    error_kind        VARCHAR,               -- last error of a failed request
    attempts          INTEGER NOT NULL,
    retries           INTEGER NOT NULL,
    fallbacks         INTEGER NOT NULL,
    handoff           BOOLEAN NOT NULL,      -- answered by a human node
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost_usd          DOUBLE NOT NULL,       -- sum of this request's attempts
    quality           DOUBLE,                -- mean grader score of the final answer
    response          VARCHAR
);

CREATE TABLE attempts (
    run_id            VARCHAR NOT NULL,
    request_id        VARCHAR NOT NULL,
    attempt_no        INTEGER NOT NULL,      -- 1, 2, ... within the request
    target            VARCHAR NOT NULL,      -- fleet model or human node name
    model             VARCHAR NOT NULL,      -- litellm model name, or 'human'
    provider          VARCHAR NOT NULL,      -- simulated | recorded | live | human
    is_retry          BOOLEAN NOT NULL,
    is_fallback       BOOLEAN NOT NULL,
    start_s           DOUBLE NOT NULL,
    end_s             DOUBLE NOT NULL,
    wait_s            DOUBLE NOT NULL,       -- queueing for a human agent
    ok                BOOLEAN NOT NULL,
    error_kind        VARCHAR,
    retry_after_s     DOUBLE,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost_usd          DOUBLE NOT NULL,
    score             DOUBLE
);
