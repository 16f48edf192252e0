"""What the server writes into the editor's log: an expected refusal (a rename that would
collide) is an error answer to the request, not a traceback; a normal exit, over stdio or
TCP, leaves nothing behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "examples" / "refund_approval" / "refund_approval.flow"


def _send(w, msg: dict) -> None:
    body = json.dumps(msg).encode()
    w.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    w.flush()


def _receive(r) -> dict:
    length = 0
    while True:
        line = r.readline()
        assert line, "the server closed the connection"
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(r.read(length))


def _until(r, pred) -> dict:
    while True:
        msg = _receive(r)
        if pred(msg):
            return msg


def _session(r, w) -> list[dict]:
    """initialize, open a flow, two refused renames, shutdown, exit; the rename answers."""
    _send(w, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "processId": None, "rootUri": ROOT.as_uri(), "capabilities": {}}})
    _until(r, lambda m: m.get("id") == 1)
    _send(w, {"jsonrpc": "2.0", "method": "initialized", "params": {}})
    text = FLOW.read_text(encoding="utf-8")
    _send(w, {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": FLOW.as_uri(), "languageId": "flow", "version": 1, "text": text}}})
    line = next(i for i, t in enumerate(text.splitlines()) if t.startswith("node review"))
    answers = []
    for k, (ln, col, new) in enumerate([(line, 6, "pay"), (1, 0, "x")], start=10):
        _send(w, {"jsonrpc": "2.0", "id": k, "method": "textDocument/rename", "params": {
            "textDocument": {"uri": FLOW.as_uri()}, "position": {"line": ln, "character": col},
            "newName": new}})
        answers.append(_until(r, lambda m, k=k: m.get("id") == k))
    _send(w, {"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
    _until(r, lambda m: m.get("id") == 2)
    _send(w, {"jsonrpc": "2.0", "method": "exit"})
    return answers


def _check_answers(answers: list[dict]) -> None:
    collide, nothing = answers
    assert collide["error"]["code"] == -32803
    assert "`pay` is already declared" in collide["error"]["message"]
    assert nothing["error"]["message"] == "nothing to rename here"


def test_stdio_refusals_and_exit_leave_no_traceback():
    proc = subprocess.Popen([sys.executable, "-m", "flowc", "lsp"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        _check_answers(_session(proc.stdout, proc.stdin))
        assert proc.wait(timeout=60) == 0
        err = proc.stderr.read().decode()
    finally:
        proc.kill()
        proc.wait()
    assert "Traceback" not in err and "ERROR" not in err, err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tcp_refusals_and_exit_leave_no_traceback():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "flowc", "lsp", "--tcp",
                             f"127.0.0.1:{port}"], stderr=subprocess.PIPE, cwd=ROOT)
    try:
        for _ in range(600):  # the server is listening once it has imported (bounded wait)
            try:
                conn = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(proc.stderr.read().decode())
                time.sleep(0.1)
        with conn:
            r, w = conn.makefile("rb"), conn.makefile("wb")
            _check_answers(_session(r, w))
            assert r.read() == b""  # the server closed the connection
        assert proc.wait(timeout=60) == 0
        err = proc.stderr.read().decode()
    finally:
        proc.kill()
        proc.wait()
    assert "Traceback" not in err and "ERROR" not in err, err


def test_editor_messages_carry_no_positional_labels():
    # the caret labels of `flowc check` ("here", "imported here", "second declaration")
    # point at the span; in an editor the message already sits on the span
    from flowc.compiler.api import Compiler
    from flowc.compiler.source import Source
    from flowc.lsp.convert import to_lsp_diagnostics
    from flowc.lsp.positions import PositionCodec

    seen = 0
    for path in sorted((ROOT / "examples" / "broken").glob("*.flow")):
        src = Source.from_file(path)
        res = Compiler(locked="auto").check(src, path.parent)
        own = [d for d in res.diagnostics.sorted() if d.source is src]
        for d, out in zip(own, to_lsp_diagnostics(own, src, PositionCodec(src.text),
                                                  path.as_uri()), strict=True):
            lines = out.message.split("\n")
            assert lines[0] == d.message
            for line in lines[1:]:
                seen += 1
                if line.startswith(("help: ", "note: ")):
                    continue
                assert not line.endswith("here") and line != "second declaration", \
                    (path.name, out.message)
    assert seen > 20  # labels and help lines are there: only the positional ones go
