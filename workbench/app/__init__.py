"""The Panel workbench in the browser: scenarios, traffic, runs, comparison, audit, exercises.

Why a package of small modules: the state (``state.py``, ``jobs.py``, ``edits.py``) is plain
``param`` objects and functions that tests drive without a browser; each view is one module that only
lays out widgets over that state; ``shell.py`` assembles the tabs and serves them. The app calls
``workbench`` functions only (runner, analysis, store, catalog): it never imports litellm or the
providers, and every figure it shows is read back from the trace store.
"""

__all__ = ["build_app", "serve"]


def __getattr__(name: str):
    # Lazy: the state modules are used (and tested) without loading Panel's views.
    if name == "serve":
        from workbench.app.server import serve

        return serve
    if name == "build_app":
        from workbench.app.shell import build_app

        return build_app
    raise AttributeError(name)
