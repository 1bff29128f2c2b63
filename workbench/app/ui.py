"""Small shared pieces of the views: the message box, the error guard, the data-mode badge.

Why one guard for every callback: the issue's rule is that errors show as messages in the page, never
as a traceback. A workbench error (bad scenario, bad traffic, locked store) shows its own one-line
message; anything unexpected shows its type and text, and the traceback goes to the server log.
Messages are shown as text (:func:`workbench.app.safe.text`): they quote file names and values.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import panel as pn

from workbench.app.safe import html, text
from workbench.errors import StoreError, WorkbenchError
from workbench.registry import mode_colour

__all__ = ["Messages", "guarded", "mode_badge", "plain"]

_log = logging.getLogger("workbench.app")


def plain(message: str) -> str:
    """``message`` for a Markdown pane, shown as written (field names like ``max_usd`` stay intact)."""
    return text(message)


class Messages:
    """One alert box of a view: ``error``, ``ok``, ``info`` replace its text; ``clear`` hides it.

    ``store_failed`` is set while the box shows why the trace store could not be read (for example,
    another process holds it), so that the view clears it once a read succeeds (:meth:`store_ok`).
    """

    def __init__(self, name: str):
        self.store_failed = False
        self.pane = pn.pane.Alert("", alert_type="info", visible=False, css_classes=[f"wb-msg-{name}"],
                                  sizing_mode="stretch_width", margin=(4, 10), disable_math=True)

    def _show(self, kind: str, text: str) -> None:
        self.store_failed = False
        self.pane.param.update(object=plain(text), alert_type=kind, visible=bool(text))

    def error(self, text: str) -> None:
        """Show an error (red)."""
        self._show("danger", text)

    def ok(self, text: str) -> None:
        """Show a success (green)."""
        self._show("success", text)

    def info(self, text: str) -> None:
        """Show a neutral note (blue)."""
        self._show("info", text)

    def warn(self, text: str) -> None:
        """Show a warning (yellow)."""
        self._show("warning", text)

    def clear(self) -> None:
        """Hide the box."""
        self._show("info", "")

    def store_error(self, exc: StoreError) -> None:
        """Show why the trace store could not be read."""
        self.error(str(exc))
        self.store_failed = True

    def store_ok(self) -> None:
        """The store was read: hide the box if it only said that the store could not be read."""
        if self.store_failed:
            self.clear()


def guarded(messages: Messages) -> Callable:
    """Decorator: run a callback; show any error it raises in ``messages`` instead of a traceback."""
    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kw):
            try:
                return fn(*args, **kw)
            except StoreError as exc:
                messages.store_error(exc)
            except WorkbenchError as exc:
                messages.error(str(exc))
            except (ValueError, KeyError, OSError) as exc:
                messages.error(f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # noqa: BLE001  (the page shows one line; the log keeps the traceback)
                _log.exception("callback %s failed", fn.__name__)
                messages.error(f"unexpected error: {type(exc).__name__}: {exc}")
            return None
        return wrapper
    return deco


def mode_badge(mode: str) -> str:
    """HTML badge saying where figures come from: simulated, recorded, live or mixed (colours: the
    provider kinds' own, :func:`workbench.registry.mode_colour`)."""
    colour = mode_colour(mode)
    return html("<span class='wb-mode' style='background:{};color:white;padding:1px 7px;border-radius:4px;"
                "font-size:12px'>{}</span>", colour, mode)
