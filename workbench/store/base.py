"""What every DuckDB file of the workbench (the trace store, each dataset) shares: a connection that
closes once, usable as a context manager.

Why a base class: the trace store and the outcome datasets are separate files with separate schemas,
but a caller must be able to open, use and close either the same way, and a connection closed twice
must not raise.

Run ids are checked here too, at the bottom of the store, because a run id becomes a file name (an
export is ``<run_id>.requests.csv``): every way a run id enters (the CLI, the runner, an export) asks
:func:`check_run_id`, so ``../x`` or a name with a slash can never reach a path.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypeVar

from workbench.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

__all__ = ["Connected", "RUN_ID_PATTERN", "check_run_id"]

#: A run id: a letter or digit, then up to 127 letters, digits, '.', '_' or '-' (safe as a file name).
RUN_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_RUN_ID = re.compile(RUN_ID_PATTERN)


def check_run_id(run_id: str) -> str:
    """``run_id`` if it matches :data:`RUN_ID_PATTERN`; else one :class:`InputError` saying what is allowed."""
    if not isinstance(run_id, str) or _RUN_ID.fullmatch(run_id) is None:
        raise InputError(f"run id {run_id!r} is not allowed: use 1 to 128 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return run_id

T = TypeVar("T", bound="Connected")


class Connected:
    """Holds ``self.con`` (a DuckDB connection); ``with`` closes it."""

    con: duckdb.DuckDBPyConnection  # opened by the subclass's constructor

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent: DuckDB ignores a second close)."""
        self.con.close()
