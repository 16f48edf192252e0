"""Handlers off the event loop. A handler does blocking work (store reads and writes, which
may wait on another process's lock; argon2 checks, ~0.1 s each): on the event loop it would
stall every other request. `threaded(handler)` reads the request's body on the loop (bounded),
then runs the handler in a worker thread (on that thread's own event loop, made once and kept
while the thread lives: the body, already read, is served from Starlette's cache there)."""

from __future__ import annotations

import asyncio
import functools
import threading

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from .errors import BodyTooLarge

__all__ = ["MAX_BODY_BYTES", "threaded"]

MAX_BODY_BYTES = 4 * 1024 * 1024  # a body that is not a form: JSON, at most this much is read


async def _read_capped(request: Request, cap: int) -> bytes | None:
    """The body, or None past `cap` bytes (declared or sent: a chunked body has no length)."""
    length = request.headers.get("content-length")
    if length and (not length.isdigit() or int(length) > cap):
        return None
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > cap:
            return None
    return bytes(data)


async def _preload(request: Request, read_form, form_cap: int) -> None:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        data = await _read_capped(request, form_cap)
        if data is None:
            request.state.form_error = BodyTooLarge()
            return
        request._body = data  # Starlette's cache: the form is parsed from it
        try:
            await read_form(request)
        except Exception as e:
            request.state.form_error = e
        return
    if request.method in ("GET", "HEAD"):
        return
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            break  # the handler sees a body over the limit and answers 413
    request._body = bytes(data)  # Starlette's cache: request.body() returns it


class _ThreadLoop:
    """A worker thread's event loop, closed when the thread ends (its locals are dropped)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()

    def __del__(self):
        self.loop.close()


_local = threading.local()


def _run_here(coro):
    """Run `coro` to its end on this thread's loop (a new loop per request cost a third of a
    millisecond: a selector, a socket pair, their teardown)."""
    held = getattr(_local, "held", None)
    if held is None or held.loop.is_closed():
        held = _local.held = _ThreadLoop()
    return held.loop.run_until_complete(coro)


def threaded(handler, read_form, form_cap: int = 2 * 1024 * 1024):
    """`handler(request)` (a coroutine function) run in a worker thread, its body read first
    (a form body: at most `form_cap` bytes, else the handler's form read raises
    BodyTooLarge)."""
    @functools.wraps(handler)
    async def endpoint(request: Request):
        await _preload(request, read_form, form_cap)
        return await run_in_threadpool(lambda: _run_here(handler(request)))
    return endpoint
