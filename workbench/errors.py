"""Failure taxonomy: every error the workbench raises on purpose, and the kinds of provider failure.

Two families that must never be confused:

* errors *of the workbench's input or environment* (a bad scenario, a malformed traffic line, a locked
  database). They stop the command before anything is written, and their message names where.
* failures *of a provider call inside a replay* (a 429, a 503, a timeout). They are data, not
  exceptions: the replay records them as attempts with an :class:`ErrorKind`, then retries or falls
  back as the scenario says.

::

    WorkbenchError                 base of everything raised on purpose; the CLI prints it, no traceback
    ├── InputError                 bad user input; carries file, line and field
    │   ├── ScenarioError          scenario YAML: syntax, unknown field, wrong type, bad policy params
    │   └── TrafficError           traffic file: malformed line, missing prompt, bad difficulty
    ├── StoreError                 the trace database cannot be opened, migrated or written
    │   └── StoreLockedError       another process holds the database file (DuckDB: one writer process)
    ├── UnavailableError           a feature named in a scenario that this installation cannot run
    ├── RunInterrupted             SIGTERM/SIGINT stopped a live run: what was recorded is written,
    │                              the run is marked interrupted and `workbench resume` finishes it
    └── AllRequestsFailed          a run ended with not one request answered; names the cause

    ErrorKind (provider failures, recorded per attempt)
    ├── rate_limit                 HTTP 429: rpm/tpm exceeded; carries retry-after
    ├── server_error               HTTP 5xx, including outage windows (503)
    ├── timeout                    the call outlived the scenario's timeout
    ├── context_window             prompt + answer longer than the model's window; never retried
    ├── content_policy             the provider refused the content; never retried
    ├── configuration errors       the design or the environment is wrong, not the provider's luck:
    │   │                          never retried nor fallen back by default (a fallback rule or
    │   │                          ``retries.errors`` must name them), message stored per attempt
    │   ├── not_found              HTTP 404: no such model (or endpoint) at this api_base
    │   ├── bad_request            HTTP 400/422: the provider rejects the request's shape
    │   └── auth                   HTTP 401/403: missing, wrong or unauthorised key
    └── circuit_open               not a provider answer: the client skipped a target whose circuit
                                   breaker is open (no attempt is made, so none is recorded)
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

__all__ = [
    "ErrorKind",
    "WorkbenchError",
    "InputError",
    "ScenarioError",
    "TrafficError",
    "StoreError",
    "StoreLockedError",
    "UnavailableError",
    "RETRYABLE_DEFAULT",
    "CONFIG_ERRORS",
    "RunInterrupted",
    "AllRequestsFailed",
]


class ErrorKind(StrEnum):
    """Kind of a failed provider call, as recorded in the ``attempts`` table (a str: f-strings show the value)."""

    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONTEXT_WINDOW = "context_window"
    CONTENT_POLICY = "content_policy"
    NOT_FOUND = "not_found"
    BAD_REQUEST = "bad_request"
    AUTH = "auth"
    CIRCUIT_OPEN = "circuit_open"


#: Kinds a retry can cure; the others fail the same way every time.
RETRYABLE_DEFAULT = (ErrorKind.RATE_LIMIT, ErrorKind.SERVER_ERROR, ErrorKind.TIMEOUT)

#: Kinds that say the scenario or the environment is wrong (model name, request, key): another try,
#: or a fallback rule without ``errors``, would only hide the mistake (and pay for it).
CONFIG_ERRORS = frozenset({ErrorKind.NOT_FOUND, ErrorKind.BAD_REQUEST, ErrorKind.AUTH})


class WorkbenchError(Exception):
    """Base of every error the workbench raises on purpose."""


class InputError(WorkbenchError):
    """Bad user input; the message names the file, the line (when known) and the field."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None,
                 field: str | None = None):
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        return _one_line(self._where_and_reason())

    def _where_and_reason(self) -> str:
        where = []
        if self.file:
            where.append(self.file + (f":{self.line}" if self.line else ""))
        elif self.line:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field '{self.field}'")
        return (", ".join(where) + ": " if where else "") + self.reason


class ScenarioError(InputError):
    """A scenario file that cannot be used as it is."""


class TrafficError(InputError):
    """A traffic file (JSONL, CSV, Parquet) that cannot be used as it is."""


class StoreError(WorkbenchError):
    """The trace database cannot be opened, migrated or written."""


class StoreLockedError(StoreError):
    """Another process holds the database file; ``path`` is the file, ``holder`` who holds it, if known."""

    def __init__(self, message: str, *, path: str | Path, holder: str = ""):
        self.path, self.holder = str(path), holder
        super().__init__(message)


class UnavailableError(WorkbenchError):
    """A scenario asks for something this installation cannot run (for example a provider kind)."""


class RunInterrupted(WorkbenchError):
    """A signal stopped a run; every request it had finished is written and the run can be resumed."""

    def __init__(self, signal_name: str, run_id: str, recorded: int, planned: int, db: str | None = None):
        import shlex

        self.signal_name, self.run_id, self.recorded, self.planned = signal_name, run_id, recorded, planned
        where = f" --db {shlex.quote(db)}" if db else ""
        super().__init__(_one_line(f"interrupted by {signal_name}: {recorded:,} of {planned:,} requests recorded; "
                                   f"finish it with: workbench resume "
                                   f"{shlex.quote(run_id)}{where}"))

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
        import signal

        return 128 + int(getattr(signal, self.signal_name, signal.SIGTERM))


class AllRequestsFailed(WorkbenchError):
    """A run finished but answered no request: its figures describe a misconfiguration, not a design."""

    exit_code = 3

    def __init__(self, message: str):
        super().__init__(_one_line(message))


def _one_line(text: str) -> str:
    # Names and values from the user's file are echoed in messages: a newline or an escape code in
    # them must not split the message or drive the terminal.
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
