"""Serving the app: checks first, then Panel's server on loopback, its URL on stdout.

Why its own light module: ``workbench serve`` must reject a bad argument at once, before the seconds
it takes to import Panel, Altair and the views. Why loopback by default: the app reads and writes
local files (scenarios, the trace store) and has no login; ``--host`` opens it to a network, with a
warning. The websocket only accepts pages served from the addresses the server was started with.
Slow first-use work (litellm's catalog; Altair and the report's inline Vega bundle) starts in
background threads once the first page is on screen (``shell.warm``).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from workbench.errors import InputError

__all__ = ["serve", "LOOPBACK"]

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve(*, db: str | Path = "workbench.duckdb", scenarios_dir: str | Path = "scenarios", host: str = "127.0.0.1",
          port: int = 5006, show: bool = False) -> None:
    """Serve the app until interrupted; prints its URL on stdout first. ``port=0`` picks a free one."""
    if not Path(scenarios_dir).is_dir():
        raise InputError("no such scenarios folder (--scenarios)", file=scenarios_dir)
    if host not in LOOPBACK:
        print(f"warning: serving on {host}: anyone who can reach this address can read and write the "
              "scenarios and the trace store (the app has no login)", file=sys.stderr)
    port = port or _free_port(host)
    import panel as pn

    from workbench.app.shell import EXTENSIONS, TITLE, build_app

    pn.extension(*EXTENSIONS)
    origins = sorted({f"{h}:{port}" for h in {host, "localhost", "127.0.0.1"}})
    server = pn.serve(lambda: build_app(db, scenarios_dir), port=port, address=host, websocket_origin=origins,
                      show=show, start=False, title=TITLE, verbose=False)
    shown = f"[{host}]" if ":" in host else host
    print(f"workbench app: http://{shown}:{server.port}/  (Ctrl-C stops it)", flush=True)
    server.start()
    server.io_loop.start()
