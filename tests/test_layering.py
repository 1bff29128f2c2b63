"""Layer rules from ARCHITECTURE.md, checked on the import statements of every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

PKG = ROOT / "workbench"


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def modules() -> dict[str, set[str]]:
    return {str(p.relative_to(PKG)): imports(p) for p in PKG.rglob("*.py")}


def test_only_the_catalog_pricing_and_live_provider_import_litellm():
    users = {m for m, names in modules().items() if any(n == "litellm" or n.startswith("litellm.") for n in names)}
    assert users <= {"catalog.py", "pricing.py", "providers/live.py"}, users


def test_app_never_imports_litellm_or_providers():
    for mod, names in modules().items():
        if mod.startswith("app/"):
            assert not any(n.startswith(("litellm", "workbench.providers")) for n in names), mod


def test_sql_lives_in_store_and_analysis():
    users = {m for m, names in modules().items() if "duckdb" in names}
    assert all(m.startswith(("store/", "analysis/")) for m in users), users
    # nor through a connection handed in from elsewhere (a store's ``con``)
    queries = {str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
               if re.search(r"[\"']\s*SELECT\s", p.read_text())}
    assert all(m.startswith(("store/", "analysis/")) for m in queries), queries


def test_policies_never_call_providers():
    for mod, names in modules().items():
        if mod.startswith("policies/"):
            assert not any(n.startswith("workbench.providers") for n in names), mod


def test_public_modules_have_docstrings_and_all():
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path} has no module docstring"
        if not path.name.startswith("_") or path.name == "__init__.py":
            names = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                     if isinstance(t, ast.Name)}
            assert "__all__" in names or path.name == "__main__.py", f"{path} has no __all__"
