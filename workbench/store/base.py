"""What every DuckDB file of the workbench (the trace store, each dataset) shares: a connection that
closes once, usable as a context manager.

Why a base class: the trace store and the outcome datasets are separate files with separate schemas,
but a caller must be able to open, use and close either the same way, and a connection closed twice
must not raise.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["Connected"]

T = TypeVar("T", bound="Connected")


class Connected:
    """Holds ``self.con`` (a DuckDB connection); ``with`` closes it."""

    con = None

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self.con is not None:
            self.con.close()
            self.con = None
