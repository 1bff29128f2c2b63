"""The app's one escaping helper (workbench/app/safe.py): what each function gives, what Panel's panes then
send to the browser, and that no view escapes (or forgets to) on its own.

The browser side (every view, in Chromium) is tests/app/test_hostile.py.
"""

from __future__ import annotations

import ast
import html as std_html

import panel as pn
from conftest import ROOT

from workbench.app import safe

EVIL = "\"'><img src=x onerror=alert(1)><script>alert(2)</script>&amp;"
ESCAPED = "&#34;&#39;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;&amp;amp;"


def sent(pane: pn.pane.HTML | pn.pane.Markdown) -> str:
    """The HTML a pane puts into the page (Panel escapes it once for the wire; the browser decodes that)."""
    return std_html.unescape(pane._transform_object(pane.object)["object"])


def test_esc_escapes_markup_and_both_quotes():
    assert safe.esc(EVIL) == ESCAPED
    assert safe.esc(None) == "" and safe.esc(3.5) == "3.5"


def test_html_escapes_every_argument_once_and_keeps_format_specs():
    row = safe.html("<td data-run='{}'>{}</td>", EVIL, EVIL)
    assert row == f"<td data-run='{ESCAPED}'>{ESCAPED}</td>"
    assert safe.html("<b>{:,.2f}</b> {n:,}", 12345.678, n=1000) == "<b>12,345.68</b> 1,000"
    # built markup nests as it is; a plain string that looks like markup does not
    nested = safe.html("<tr>{}{}</tr>", row, "<td>x</td>")
    assert nested == f"<tr>{row}&lt;td&gt;x&lt;/td&gt;</tr>"
    assert safe.join([row, "<i>"], "<br>") == f"{row}<br>&lt;i&gt;"


def test_safe_strings_reach_the_browser_escaped_once():
    built = safe.html("<b class='x'>{}</b>", EVIL)
    assert sent(pn.pane.HTML(built)) == built  # not double-escaped by Panel's own escaping
    assert type(built + "!") is str  # plain concatenation gives a plain string, escaped if nested again


def test_text_is_literal_even_in_a_markdown_pane():
    # a blank line would end an HTML block in Markdown and let the rest be read as Markdown (links, HTML)
    message = f"bad file\n\n[click](javascript:alert(3)) **bold**\r\n{EVIL}"
    shown = safe.text(message)
    assert "\n" not in shown and "\r" not in shown
    for pane in (pn.pane.Markdown(shown), pn.pane.Alert(shown), pn.pane.HTML(shown)):
        out = sent(pane)
        assert "<img" not in out and "<script" not in out and "<a " not in out and "<strong>" not in out
        assert f"[click](javascript:alert(3)) **bold**<br>{ESCAPED}" in out
    assert safe.text("") == "" and safe.text(None) == ""


def test_labels_escape_keys_only():
    options = safe.labels({EVIL: "run-1", "plain": 2})
    assert options == {ESCAPED: "run-1", "plain": 2}


def test_document_renders_markdown_but_not_its_html():
    out = sent(safe.document(f"# Brief\n\nText {EVIL}\n\n<div onclick=alert(4)>x</div>\n\n[a](javascript:alert(5))"))
    assert out.startswith("<h1 id=\"brief\">Brief ")
    assert "<img" not in out and "<script" not in out and "<div onclick" not in out and "href=\"javascript" not in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out


def test_views_build_html_only_through_safe():
    """No app module escapes on its own (it is safe.py's job), nor lets pandas write unescaped HTML."""
    for path in sorted((ROOT / "workbench" / "app").glob("*.py")):
        if path.name == "safe.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name for a in node.names} & {"html", "markupsafe"}, path.name
            elif isinstance(node, ast.ImportFrom):
                assert node.module not in ("html", "markupsafe"), path.name
            elif isinstance(node, ast.keyword) and node.arg == "escape":
                assert not (isinstance(node.value, ast.Constant) and node.value.value is False), path.name
