"""The audit trail: a tamper-evident hash chain over every decision of an audited run.

Why a hash chain, sealed in the writer's transaction: a regulator asks "what was decided for this
applicant, by which model, on what input, at what cost, and has anyone changed it since?". Each request
of a run whose scenario sets ``audit: true`` gets one audit row holding every stored field of its
request row and attempt rows and the run's defining fields (:mod:`.record`);
``row_hash = sha256(prev_hash + canonical JSON of the row)`` links it to the row before, or an
HMAC-SHA256 under ``$WORKBENCH_AUDIT_KEY`` when that is set. The rows are written by
:meth:`workbench.store.TraceStore.write` in the same transaction as the request and attempt rows they
cover (:mod:`.chain`), so a run killed part way keeps a chain that ends exactly where its traces end,
and a resumed run continues the chain from the last stored hash.

Why verification recomputes from the traces *and* hashes the stored rows (:mod:`.verify`): editing an
answer, a cost or the scenario must break the chain even if the audit table is left alone, and editing
the audit table must break it even if the traces are left alone.

What a chain cannot show on its own: someone able to rewrite the whole database can rebuild a
consistent chain. ``run``, ``resume`` and ``verify`` print the chain's head hash; recording it
elsewhere (a ticket, a signed log) turns a rewrite into a detectable one (``verify --head``), and so
does a key the rewriter does not have.
"""

from workbench.store.audit.chain import AUDIT_COLUMNS, chain_head, chains, check_resumable, is_audited, seal
from workbench.store.audit.record import (
                                          ATTEMPT_FIELDS,
                                          GENESIS,
                                          KEY_ENV,
                                          REQUEST_FIELDS,
                                          RUN_UNSEALED,
                                          SEAL_VERSION,
                                          audit_record,
                                          canonical,
                                          chain_hash,
                                          link,
                                          record_v2,
                                          run_fields,
                                          signing_key,
)
from workbench.store.audit.verify import AuditResult, request_trail, trail_frame, trail_summary, verify_run

__all__ = ["GENESIS", "SEAL_VERSION", "KEY_ENV", "AUDIT_COLUMNS", "REQUEST_FIELDS", "ATTEMPT_FIELDS", "RUN_UNSEALED",
           "AuditResult", "canonical", "audit_record", "record_v2", "run_fields", "chain_hash", "link", "signing_key",
           "seal", "chains", "is_audited", "chain_head", "check_resumable", "verify_run", "request_trail",
           "trail_frame", "trail_summary"]
