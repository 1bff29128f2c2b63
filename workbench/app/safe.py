"""Every string the app shows from user data (scenario and traffic files, run ids, model, category and
file names, error messages) reaches the page through this module: escaped, or shown as plain text.

Why one module: those strings are written by whoever made the files a session opens (a hiring panel
opens candidates' folders), and most of what the app shows is HTML: an HTML pane sets ``innerHTML``
and even runs its ``<script>`` tags, a Markdown pane passes raw HTML through, and the multi-choice
pickers (Choices.js, ``allowHTML``) render their labels as HTML. Escaping at each call site missed
half a dozen places (issue 12), so views build markup only with :func:`html` (a MarkupSafe template:
every argument is escaped unless it is :class:`Safe`, built here), show a message with
:func:`text`, label a picker with :func:`labels`, and show a Markdown document in :func:`document`
(raw HTML off). Tabulator cells and plain ``Select`` options are set as text by Bokeh, so data frames
and ``Select`` options need nothing. ``tests/app/test_hostile.py`` feeds hostile names through every
view in Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import panel as pn
from markupsafe import Markup, escape

__all__ = ["Safe", "esc", "html", "join", "text", "labels", "document"]

V = TypeVar("V")
_NEWLINES = re.compile(r"\r\n|\r|\n")


class Safe(str):
    """A string of HTML built here, its data already escaped: :func:`html` and :func:`join` insert it as
    it is. A plain ``str`` otherwise (unlike :class:`~markupsafe.Markup`, whose ``replace`` escapes
    its arguments, which would garble Panel's own escaping of a pane's text for the browser)."""

    def __html__(self) -> Markup:
        return Markup(str(self))


def esc(value: Any) -> Safe:
    """``value`` (any object, via ``str``) escaped for HTML text and quoted attributes."""
    return Safe(escape("" if value is None else value))


def html(template: str, *args: Any, **kw: Any) -> Safe:
    """``template`` (trusted markup written in the code) formatted with every argument escaped, as
    ``str.format`` would (format specs work: ``{:,.2f}``); arguments that are :class:`Safe` (built by
    this module) are inserted as they are."""
    return Safe(Markup(template).format(*args, **kw))


def join(parts: Iterable[Any], sep: str = "") -> Safe:
    """The parts joined by ``sep`` (trusted), each escaped unless it is :class:`Safe`."""
    return Safe(Markup(sep).join(parts))


def text(value: Any, cls: str = "") -> Safe:
    """``value`` shown literally as one HTML block, for an HTML, Markdown or Alert pane ('' when empty).

    Line breaks become ``<br>`` so that the block has no blank line: a Markdown pane would end an HTML
    block there and read the rest as Markdown (links, emphasis) instead of as text.
    """
    if value is None or value == "":
        return Safe("")
    body = join(_NEWLINES.split(str(value)), "<br>")
    return html("<div class='{}' style='white-space:pre-wrap'>{}</div>", cls or "wb-text", body)


def labels(options: Mapping[str, V]) -> dict[str, V]:
    """Picker options ``{label: value}`` with each label escaped: for widgets that render their labels
    as HTML (``MultiChoice``); the label then shows exactly as written."""
    return {str(esc(label)): value for label, value in options.items()}


def document(object: str = "", **params: Any) -> pn.pane.Markdown:
    """A Markdown pane for a document from a file (an exercise brief): Markdown is rendered, raw HTML
    in it is shown as text, and ``$`` is never read as math."""
    return pn.pane.Markdown(object, renderer="markdown-it", renderer_options={"html": False}, disable_math=True,
                            **params)
