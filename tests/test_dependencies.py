"""Every third-party module the code imports is a declared dependency (issue 13).

A package that is only installed because something else pulls it in (scipy via scikit-learn, aiohttp via
litellm) works until that other package changes its own requirements; then `pip install` gives a
workbench that fails at import. So the import statements of workbench/, benchmarks/ and the notebooks'
code cells are read with `ast`, each top-level module is mapped to the distribution that provides it
(``importlib.metadata.packages_distributions()``), and that distribution must be listed in
pyproject.toml: in ``dependencies``, or in an optional extra for the few imports that sit on an
optional path, listed below by module and file.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

# module -> (extra, distribution, the files allowed to import it, inside a function only): imports on an
# optional path. The distribution is named here because an optional package need not be installed.
OPTIONAL: dict[str, tuple[str, str, frozenset[str]]] = {
    "ray": ("ray", "ray", frozenset({"workbench/sweep/executors.py"})),
    "sentence_transformers": ("embeddings", "sentence-transformers", frozenset({"workbench/graders/embedding.py"})),
}
# the notebooks run in a Jupyter kernel: their cells may import what the `notebooks` extra installs
NOTEBOOK_EXTRA = "notebooks"


def norm(name: str) -> str:
    """A distribution name normalised as PEP 503 does (``google_re2`` == ``google-re2``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(reqs: list[str]) -> set[str]:
    """The normalised distribution names of requirement strings such as ``"litellm>=1.83,!=1.82.7"``."""
    out = set()
    for req in reqs:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        assert match, f"pyproject.toml: cannot read the requirement {req!r}"
        out.add(norm(match.group(1)))
    return out


def top_level_imports(source: str, origin: str) -> list[tuple[str, int, bool]]:
    """(top-level module, line, inside a function?) of every absolute import in ``source``."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend((a.name.split(".")[0], child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.split(".")[0], child.lineno, in_function))
            visit(child, inner)

    visit(ast.parse(source, filename=origin), False)
    return found


def third_party(module: str) -> bool:
    """True for a module that is neither the standard library nor the workbench itself."""
    return module not in sys.stdlib_module_names and module not in {"workbench", "__future__"}


def undeclared(imports: list[tuple[str, str, int, bool]], allowed: set[str],
               optional: dict[str, tuple[str, str, frozenset[str]]] = OPTIONAL) -> list[str]:
    """One message per (file, module) whose distribution is not among ``allowed`` (normalised names).

    ``imports`` holds (file, module, line, inside a function?). A module in ``optional`` passes only in
    its listed files, inside a function, and when its extra declares its distribution."""
    dists = packages_distributions()
    problems = []
    for origin, module, line, in_function in imports:
        if not third_party(module):
            continue
        where = f"{origin}:{line}: import {module}"
        if module in optional:
            extra, dist, files = optional[module]
            if origin not in files:
                problems.append(f"{where}: an optional package ({extra} extra), imported outside {sorted(files)}")
            elif not in_function:
                problems.append(f"{where}: an optional package, imported at module level (import it where used)")
            elif norm(dist) not in requirement_names(EXTRAS.get(extra, [])):
                problems.append(f"{where}: {dist} is not in the [{extra}] extra of pyproject.toml")
            continue
        provided = {norm(d) for d in dists.get(module, [])}
        if not provided:
            problems.append(f"{where}: no installed distribution provides it (an optional import? list it)")
        elif not provided & allowed:
            problems.append(f"{where}: provided by {sorted(provided)}, which pyproject.toml does not declare")
    return problems


def code_imports() -> list[tuple[str, str, int, bool]]:
    """(file, module, line, inside a function?) for every .py under workbench/ and benchmarks/."""
    out = []
    for folder in ("workbench", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            origin = path.relative_to(ROOT).as_posix()
            out += [(origin, *imp) for imp in top_level_imports(path.read_text(), origin)]
    return out


def notebook_imports() -> list[tuple[str, str, int, bool]]:
    """(notebook:cell, module, line, False) for every code cell of notebooks/*.ipynb."""
    out = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        for index, cell in enumerate(cells):
            if cell["cell_type"] == "code":
                origin = f"{path.relative_to(ROOT).as_posix()}:cell {index}"
                out += [(origin, *imp) for imp in top_level_imports("".join(cell["source"]), origin)]
    return out


def test_every_import_of_the_package_and_benchmarks_is_a_declared_dependency():
    imports = code_imports()
    assert len({m for _, m, _, _ in imports if third_party(m)}) >= 20  # the walk saw the real code
    assert undeclared(imports, requirement_names(PROJECT["dependencies"])) == []


def test_every_import_of_the_notebooks_is_declared_and_the_dev_extra_can_run_them():
    imports = notebook_imports()
    assert {"ipywidgets", "IPython"} <= {m for _, m, _, _ in imports}
    allowed = requirement_names(PROJECT["dependencies"]) | requirement_names(EXTRAS[NOTEBOOK_EXTRA])
    assert undeclared(imports, allowed) == []
    # tests/test_notebooks.py executes them under the dev install
    assert requirement_names(EXTRAS[NOTEBOOK_EXTRA]) <= requirement_names(EXTRAS["dev"])


def test_every_requirement_has_a_floor():
    reqs = PROJECT["dependencies"] + [r for extra in EXTRAS.values() for r in extra]
    assert [r for r in reqs if ">=" not in r] == []


@pytest.mark.parametrize(("source", "origin", "expected"), [
    # requests is installed (panel needs it) but the workbench does not declare it
    ("import requests\n", "workbench/x.py", ["workbench/x.py:1: import requests: provided by ['requests']"]),
    ("from scipy import sparse\n", "workbench/x.py", []),
    ("import json, os.path\nfrom . import sibling\nfrom workbench import errors\n", "workbench/x.py", []),
    ("import not_a_real_module_anywhere\n", "workbench/x.py",
     ["workbench/x.py:1: import not_a_real_module_anywhere: no installed distribution"]),
    ("def f():\n    import ray\n", "workbench/sweep/executors.py", []),
    ("import ray\n", "workbench/sweep/executors.py", ["workbench/sweep/executors.py:1: import ray: an optional package, "
                                                      "imported at module level"]),
    ("def f():\n    import ray\n", "workbench/x.py", ["workbench/x.py:2: import ray: an optional package (ray extra)"]),
])
def test_the_check_names_file_line_and_module_of_an_undeclared_import(source, origin, expected):
    imports = [(origin, *imp) for imp in top_level_imports(source, origin)]
    problems = undeclared(imports, requirement_names(PROJECT["dependencies"]))
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_an_optional_import_needs_its_extra():
    optional = {"ray": ("not-an-extra", "ray", frozenset({"workbench/x.py"}))}
    problems = undeclared([("workbench/x.py", "ray", 3, True)], set(), optional)
    assert problems == ["workbench/x.py:3: import ray: ray is not in the [not-an-extra] extra of pyproject.toml"]
