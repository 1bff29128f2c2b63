"""Small shared pieces of the views: the message box, the error guard, the data-mode badge.

Why one guard for every callback: the issue's rule is that errors show as messages in the page, never
as a traceback. A workbench error (bad scenario, bad traffic, locked store) shows its own one-line
message; anything unexpected shows its type and text, and the traceback goes to the server log.
Messages are shown as text (:func:`workbench.app.safe.text`): they quote file names and values.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import panel as pn

from workbench.app.safe import html, text
from workbench.errors import StoreError, WorkbenchError
from workbench.registry import mode_colour

__all__ = ["Messages", "Confirm", "busy", "button", "guarded", "mode_badge", "plain", "duration", "percent"]

_log = logging.getLogger("workbench.app")


def plain(message: str) -> str:
    """``message`` for a Markdown pane, shown as written (field names like ``max_usd`` stay intact)."""
    return text(message)


class Messages:
    """One alert box of a view: ``error``, ``ok``, ``info`` replace its text; ``clear`` hides it.

    ``store_failed`` is set while the box shows why the trace store could not be read (for example,
    another process holds it), so that the view clears it once a read succeeds (:meth:`store_ok`).
    """

    def __init__(self, name: str, **layout):
        self.store_failed = False
        layout = {"sizing_mode": "stretch_width", "margin": (4, 10), **layout}
        self.pane = pn.pane.Alert("", alert_type="info", visible=False, css_classes=[f"wb-msg-{name}"],
                                  disable_math=True, **layout)

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


def button(label: str, color: str = "default", variant: str = "solid", **params: Any) -> pn.widgets.Button:
    """A button in one of Panel's colours (primary, success, warning, danger) and variants (solid,
    outline). Panel 1.9 renamed ``button_type``/``button_style`` to ``color``/``variant`` and warns on
    the old names; older releases (the floor is 1.5) only know the old ones: use whichever this one has."""
    if "color" in pn.widgets.Button.param:
        return pn.widgets.Button(label=label, color=color, variant=variant, **params)
    return pn.widgets.Button(label=label, button_type=color, button_style=variant, **params)


@contextmanager
def busy(*buttons: pn.widgets.Button) -> Iterator[None]:
    """While the block runs, ``buttons`` show a spinner and cannot be clicked twice."""
    for b in buttons:
        b.param.update(loading=True, disabled=True)
    try:
        yield
    finally:
        for b in buttons:
            b.param.update(loading=False, disabled=False)


class Confirm:
    """An inline question placed next to the control that asked it: "<question> [Yes] [Cancel]".

    Why inline and not a browser dialog: the answer runs Python on the server, and the question stays
    beside the button the user just clicked. :meth:`ask` shows it; "Yes" runs the action, either
    answer hides it.
    """

    def __init__(self, name: str, messages: Messages):
        self._action: Callable[[], None] | None = None
        self._cancel: Callable[[], None] | None = None
        self.question = pn.pane.HTML("", margin=(8, 6))
        self.yes = button("Yes", "danger", width=110, css_classes=[f"wb-yes-{name}"])
        self.no = pn.widgets.Button(label="Cancel", width=90, css_classes=[f"wb-no-{name}"])
        self.yes.on_click(guarded(messages)(self._yes))
        self.no.on_click(guarded(messages)(self._no))
        self.panel = pn.Column(self.question, pn.Row(self.yes, self.no), visible=False,
                               css_classes=[f"wb-confirm-{name}"], margin=(4, 10),
                               styles={"background": "#fffbea", "border": "1px solid #d69e2e", "border-radius": "4px"})

    def ask(self, question: str, action: Callable[[], None], yes: str = "Yes",
            on_cancel: Callable[[], None] | None = None) -> None:
        """Show ``question``; run ``action`` if the user answers yes, ``on_cancel`` if not."""
        self._action, self._cancel = action, on_cancel
        self.yes.label = yes
        self.question.object = text(question)
        self.panel.visible = True

    def hide(self) -> None:
        """Hide the question without running anything."""
        self._action = self._cancel = None
        self.panel.visible = False

    def _no(self, _event=None) -> None:
        cancel = self._cancel
        self.hide()
        if cancel is not None:
            cancel()

    def _yes(self, _event=None) -> None:
        action = self._action
        self.hide()
        if action is not None:
            action()


def duration(seconds: float | None) -> str:
    """A time span for people: ``"42 s"``, ``"3 min 05 s"``, ``"8 h 10 min"`` (``"n/a"`` for None)."""
    if seconds is None:
        return "n/a"
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def percent(fraction: float | None, digits: int = 1) -> str:
    """A fraction shown as a percentage (``0.1234`` -> ``"12.3%"``; ``"n/a"`` for None)."""
    return "n/a" if fraction is None else f"{fraction:.{digits}%}"


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
