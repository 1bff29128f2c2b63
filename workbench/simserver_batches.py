"""The sim-server's OpenAI Files and Batches endpoints, so a live batch lane runs end to end on loopback.

Why OpenAI's schema, as documented (https://platform.openai.com/docs/api-reference/batch): litellm's
``create_file`` / ``create_batch`` / ``retrieve_batch`` / ``file_content`` speak it, and so does every
client an application would use; a batch object here has the documented fields (``status``,
``input_file_id``, ``output_file_id``, ``error_file_id``, ``request_counts``, ``created_at``,
``expires_at``, ``completed_at`` ...) and output lines carry ``custom_id``, ``response.status_code``,
``response.body`` and ``error``.

Every line is answered by the same simulated fleet as ``/v1/chat/completions`` (at the virtual time the
batch was created), and nothing is held: the batch's progress is driven by polls, which makes tests
exact rather than timed. ``POST /admin/batches`` (``{"polls": k, "expire": bool}``) sets how the
batches created after it behave: done on the k-th ``GET /v1/batches/{id}`` (default 1), or ``expired``
with no output (an expiry drill).

Why these answers close their connection: litellm builds a new OpenAI client for every Files and Batches
call and never closes it, so a kept-alive connection would stay open until the client's event loop ends
(a ResourceWarning in every test). A batch client makes a handful of calls, so reconnecting costs nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from workbench.seeds import request_key
from workbench.traffic import Request

__all__ = ["add_batch_routes"]

_BATCHES = web.AppKey("batches", dict)
_WINDOW_S = 86_400


@web.middleware
async def _close_after(request: web.Request, handler: Any) -> web.StreamResponse:
    """Files and Batches answers close their connection (see the module docstring)."""
    response = await handler(request)
    if request.path.startswith(("/v1/files", "/v1/batches", "/admin/batches")):
        response.force_close()
    return response


def add_batch_routes(app: web.Application, state: Any) -> None:
    """Serve Files and Batches on ``app``, answering lines with the sim-server ``state``'s fleet."""
    app.middlewares.append(_close_after)
    app[_BATCHES] = {"state": state, "files": {}, "batches": {}, "polls": 1, "expire": False, "n": 0}
    app.router.add_post("/v1/files", _create_file)
    app.router.add_get("/v1/files/{file_id}", _get_file)
    app.router.add_get("/v1/files/{file_id}/content", _file_content)
    app.router.add_post("/v1/batches", _create_batch)
    app.router.add_get("/v1/batches/{batch_id}", _get_batch)
    app.router.add_post("/v1/batches/{batch_id}/cancel", _cancel_batch)
    app.router.add_post("/admin/batches", _admin_batches)


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return web.json_response(body, status=status)


def _new_id(db: dict, prefix: str) -> str:
    db["n"] += 1
    return f"{prefix}-sim{db['n']:06d}"


def _file_object(fid: str, f: dict) -> dict:
    return {"id": fid, "object": "file", "bytes": len(f["data"]), "created_at": f["created_at"],
            "filename": f["filename"], "purpose": f["purpose"], "status": "processed", "status_details": None}


async def _create_file(request: web.Request) -> web.Response:
    """POST /v1/files (multipart: ``file`` and ``purpose``)."""
    db = request.app[_BATCHES]
    form = await request.post()
    purpose, upload = form.get("purpose"), form.get("file")
    if purpose not in ("batch", "batch_output"):
        return _error(400, f"purpose must be 'batch' on this sim-server, got {purpose!r}", "purpose")
    if not isinstance(upload, web.FileField):
        return _error(400, "a multipart 'file' part is required", "file")
    fid = _new_id(db, "file")
    db["files"][fid] = {"data": upload.file.read(), "filename": upload.filename, "purpose": purpose,
                        "created_at": int(time.time())}
    return web.json_response(_file_object(fid, db["files"][fid]))


async def _get_file(request: web.Request) -> web.Response:
    """GET /v1/files/{id}: the file object."""
    db = request.app[_BATCHES]
    f = db["files"].get(request.match_info["file_id"])
    if f is None:
        return _error(404, "No such file")
    return web.json_response(_file_object(request.match_info["file_id"], f))


async def _file_content(request: web.Request) -> web.Response:
    """GET /v1/files/{id}/content: the file's bytes (JSONL)."""
    f = request.app[_BATCHES]["files"].get(request.match_info["file_id"])
    if f is None:
        return _error(404, "No such file")
    return web.Response(body=f["data"], content_type="application/octet-stream")


async def _create_batch(request: web.Request) -> web.Response:
    """POST /v1/batches: validate the input file; the batch starts ``in_progress``."""
    db = request.app[_BATCHES]
    try:
        body = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _error(400, f"We could not parse the JSON body of your request: {exc}")
    if not isinstance(body, dict) or body.get("completion_window") != "24h":
        return _error(400, "completion_window must be '24h'", "completion_window")
    if body.get("endpoint") != "/v1/chat/completions":
        return _error(400, "this sim-server batches /v1/chat/completions only", "endpoint")
    fid = body.get("input_file_id")
    if fid not in db["files"]:
        return _error(400, f"No such input file: {fid!r}", "input_file_id")
    lines = [json.loads(raw) for raw in db["files"][fid]["data"].decode().splitlines() if raw.strip()]
    now = int(time.time())
    bid = _new_id(db, "batch")
    db["batches"][bid] = {
        "id": bid, "object": "batch", "endpoint": body["endpoint"], "errors": None, "input_file_id": fid,
        "completion_window": "24h", "status": "in_progress", "output_file_id": None, "error_file_id": None,
        "created_at": now, "in_progress_at": now, "expires_at": now + _WINDOW_S, "finalizing_at": None,
        "completed_at": None, "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
        "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
        "metadata": body.get("metadata"),
        "_lines": lines, "_polls_left": db["polls"], "_expire": db["expire"],
    }
    return web.json_response(_public(db["batches"][bid]))


def _public(b: dict) -> dict:
    return {k: v for k, v in b.items() if not k.startswith("_")}


async def _get_batch(request: web.Request) -> web.Response:
    """GET /v1/batches/{id}: each poll brings the batch nearer its end (completed or expired)."""
    db = request.app[_BATCHES]
    b = db["batches"].get(request.match_info["batch_id"])
    if b is None:
        return _error(404, "No such batch")
    if b["status"] == "in_progress":
        b["_polls_left"] -= 1
        if b["_polls_left"] <= 0:
            _expire(b) if b["_expire"] else _complete(db, b)
    return web.json_response(_public(b))


async def _cancel_batch(request: web.Request) -> web.Response:
    """POST /v1/batches/{id}/cancel: an unfinished batch is cancelled (no output)."""
    b = request.app[_BATCHES]["batches"].get(request.match_info["batch_id"])
    if b is None:
        return _error(404, "No such batch")
    if b["status"] == "in_progress":
        now = int(time.time())
        b.update(status="cancelled", cancelling_at=now, cancelled_at=now)
    return web.json_response(_public(b))


async def _admin_batches(request: web.Request) -> web.Response:
    """POST /admin/batches {"polls": k, "expire": bool}: how batches created from now on end."""
    db = request.app[_BATCHES]
    body = json.loads(await request.read() or b"{}")
    polls = body.get("polls", 1)
    if isinstance(polls, bool) or not isinstance(polls, int) or polls < 1:
        return _error(400, f"polls must be a positive integer, got {polls!r}", "polls")
    db["polls"], db["expire"] = polls, bool(body.get("expire", False))
    return web.json_response({"polls": db["polls"], "expire": db["expire"]})


def _expire(b: dict) -> None:
    b.update(status="expired", expired_at=int(time.time()))
    b["request_counts"]["failed"] = b["request_counts"]["total"]


def _complete(db: dict, b: dict) -> None:
    state = db["state"]
    ok_lines: list[str] = []
    err_lines: list[str] = []
    for line in b["_lines"]:
        out = _answer(state, line)
        (ok_lines if out.get("error") is None else err_lines).append(json.dumps(out))
    now = int(time.time())
    for name, rows in (("output_file_id", ok_lines), ("error_file_id", err_lines)):
        if rows:
            fid = _new_id(db, "file")
            db["files"][fid] = {"data": ("\n".join(rows) + "\n").encode(), "filename": f"{b['id']}_{name}.jsonl",
                                "purpose": "batch_output", "created_at": now}
            b[name] = fid
    b["request_counts"].update(completed=len(ok_lines), failed=len(err_lines))
    b.update(status="completed", finalizing_at=now, completed_at=now)


def _answer(state: Any, line: dict) -> dict:
    """One output line: the simulated fleet's answer to the line's chat body (or its error)."""
    cid, body = line.get("custom_id"), line.get("body") or {}
    name = state.resolve(str(body.get("model", "")))
    messages = body.get("messages") or []
    if name is None or not messages:
        return {"id": f"batch_req_{cid}", "custom_id": cid, "response": None,
                "error": {"code": "model_not_found" if name is None else "invalid_request",
                          "message": f"cannot answer line {cid!r} (model {body.get('model')!r})"}}
    users = [m for m in messages if m.get("role") == "user"]
    req = Request(id=str(cid), prompt=str((users or messages)[-1].get("content")), messages=messages)
    out = state.calls[name](req, request_key(state.seed, req.id), state.now(), 1)
    if not out.ok:
        return {"id": f"batch_req_{cid}", "custom_id": cid, "response": None,
                "error": {"code": out.error.value if out.error else "server_error", "message": "simulated failure"}}
    spec = state.scenario.fleet[name]
    completion = {"id": f"chatcmpl-sim-{cid}", "object": "chat.completion", "created": int(time.time()),
                  "model": spec.model, "system_fingerprint": "workbench-simulated",
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": out.text},
                               "logprobs": None, "finish_reason": "stop"}],
                  "usage": {"prompt_tokens": out.prompt_tokens, "completion_tokens": out.completion_tokens,
                            "total_tokens": out.prompt_tokens + out.completion_tokens}}
    return {"id": f"batch_req_{cid}", "custom_id": cid,
            "response": {"status_code": 200, "request_id": f"req-{cid}", "body": completion}, "error": None}
