"""NetworkPolicy against hostile requests (issue 12, the network part).

Real loopback servers count every connection they accept: a server that is never allowed
must get none, whatever the URL looks like. No test asserts how fast anything is; a bounded
wait for a thread to end is the only use of the clock.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from flowc.runtime.sandbox.net import NetworkPolicy, host_allowed


class _Server:
    """A loopback TCP server that counts accepted connections and answers each with `reply`
    (bytes, or a callable given the connection)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, reply=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.host, self.port = self.sock.getsockname()
        self.accepts = 0
        self.requests: list[bytes] = []
        self.reply = reply if reply is not None else (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\nok")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepts += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 1 << 20:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.requests.append(data)
            if callable(self.reply):
                self.reply(conn, self.stop)
            else:
                conn.sendall(self.reply)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def good():
    s = _Server()
    yield s
    s.close()


@pytest.fixture
def evil():
    s = _Server()
    yield s
    s.close()


@pytest.fixture
def evil80():
    """A never-allowed server on port 80 of a loopback address of its own (what
    `http://allowed.test:1@127.83.41.7/` reaches when userinfo is not seen), or None."""
    try:
        s = _Server("127.83.41.7", 80)
    except OSError:
        yield None
        return
    yield s
    s.close()


def _fetch(policy: NetworkPolicy, url, timeout: float = 10.0, **kw) -> dict:
    return policy.handle({"op": "fetch", "fid": 7, "url": url, "method": kw.pop("method", "GET"),
                          **kw}, timeout=timeout)


# ---- the allowlist check and the client see the same URL ----------------------------------------
def _hostile_urls(g: str, gp: int, e: str, ep: int) -> list[str]:
    return [
        # userinfo: the check must not read the user part as the host
        "http://allowed.test:1@127.83.41.7/",
        f"http://allowed.test@{e}/",
        f"http://{g}@{e}/",
        f"http://user:pw@{g}/",                     # userinfo is refused even for an allowed host
        f"http://{g}:@{e}/",
        # backslashes, whitespace, control characters
        f"http://{g}\\@{e}/",
        f"http://{e}\\@{g}/",
        f"http://{g}\\.allowed.test/",
        f"http://{g} @{e}/",
        f"http://{g}\t/",
        f"http://{g}/x\r\nHost: evil\r\n",
        f"http://{g}/x y",
        f" http://{g}/",
        f"http://{g}/\x00",
        f"http://{g}/\x7f",
        # fragment and query tricks
        f"http://{e}#@{g}/",
        f"http://{e}?@{g}/",
        f"http://{e}/#.allowed.test",
        # ports
        f"http://{g}:{ep}/",
        f"http://127.0.0.1:{gp}:{ep}/",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:0/",
        "http://127.0.0.1:-1/",
        f"http://127.0.0.1:+{gp}/",
        f"http://127.0.0.1: {gp}/",
        f"http://127.0.0.1:{gp}x/",
        "http://127.0.0.1:/",
        f"http://127.0.0.1:0{gp}/",
        # empty and odd hosts
        "http:///",
        f"http:///{g}/",
        f"http://:{gp}/",
        f"http:/{g}/",
        f"http:{g}/",
        f"//{g}/",
        f"http://%31%32%37.0.0.1:{gp}/",
        f"http://127.0.0.1%2e:{gp}/",
        f"http://2130706433:{gp}/",
        f"http://0x7f.0.0.1:{gp}/",
        f"http://0177.0.0.1:{gp}/",
        f"http://127.1:{gp}/",
        f"http://127.0.0.1.:{gp}/",
        f"http://[::ffff:127.0.0.1]:{ep}/",
        f"http://[::1%25lo]:{gp}/",
        f"http://[127.0.0.1]:{gp}/",
        # names: IDN look-alikes, trailing dots, case, wildcards
        "http://ａｌｌｏｗｅｄ.test/",
        "http://allowed。test/",
        "http://allowéd.test/",
        "http://allowed.test./",
        "http://allowed.test.evil.test/",
        "http://evilallowed.test/",
        "http://allowed.test\u200b/",
        # schemes
        f"ftp://{g}/",
        f"file://{g}/etc/passwd",
        "javascript:alert(1)",
        "data:text/plain,hi",
        f"gopher://{g}/",
        f"https+http://{g}/",
        # not a string, or enormous
        None,
        7,
        ["http://", g],
        "http://" + "a" * 300_000 + ".test/",
    ]


def test_no_hostile_url_reaches_any_server(good, evil, evil80):
    policy = NetworkPolicy([good.netloc, "allowed.test", "*.wild.test"])
    urls = _hostile_urls(good.netloc, good.port, evil.netloc, evil.port)
    let_through = []
    for url in urls:
        r = _fetch(policy, url, timeout=5)
        assert set(r) >= {"op", "fid"} and r["fid"] == 7
        if "error" not in r:
            let_through.append((url, r.get("status")))
        else:
            assert isinstance(r["error"], str) and len(r["error"]) <= 600, (url, len(r["error"]))
    time.sleep(0.2)  # a connection racing the answer reaches the accept loop
    assert let_through == []
    assert evil.accepts == 0
    assert evil80 is None or evil80.accepts == 0, "userinfo took the request to 127.83.41.7:80"
    assert good.accepts == 0, good.requests


def test_the_userinfo_bypass_of_the_old_check(evil80):
    """What issue 12 reported: `http://allowed.test:1@127.0.0.1/` passed the check."""
    if evil80 is None:
        pytest.skip("cannot bind 127.83.41.7:80 here")
    policy = NetworkPolicy(["allowed.test"])
    r = _fetch(policy, "http://allowed.test:1@127.83.41.7/", timeout=5)
    assert "error" in r
    time.sleep(0.2)
    assert evil80.accepts == 0
    assert policy.requests == []


def test_allowed_urls_still_work(good):
    policy = NetworkPolicy([good.netloc])
    for url in (f"http://{good.netloc}/ok", f"HTTP://{good.netloc}/a%20b?q=1&r=%2F#frag",
                f"http://{good.netloc}"):
        r = _fetch(policy, url)
        assert r.get("status") == 200 and r.get("text") == "ok", (url, r)
    assert good.accepts == 3
    lines = [req.split(b"\r\n", 2)[:2] for req in good.requests]
    assert lines[0] == [b"GET /ok HTTP/1.1", f"Host: {good.netloc}".encode()]
    assert lines[1][0] == b"GET /a%20b?q=1&r=%2F HTTP/1.1"   # no fragment sent
    assert lines[2][0] == b"GET / HTTP/1.1"


def test_post_with_headers_and_body(good):
    policy = NetworkPolicy([good.netloc])
    r = _fetch(policy, f"http://{good.netloc}/p", method="post", headers={"X-Key": "v"},
               body="héllo")
    assert r.get("status") == 200, r
    req = good.requests[0]
    assert req.startswith(b"POST /p HTTP/1.1") and b"X-Key: v" in req


@pytest.mark.parametrize("headers", [
    {"Host": "evil.test"},
    {"host": "EVIL.test:80"},
    {"Host": "127.0.0.1:1"},
    {"X-A": "v\r\nHost: evil.test"},
    {"X-A\r\nHost": "evil.test"},
    {"X-A": "v\x00"},
    {"X-A": "v" * 100_000},
    {f"X-{i}": "v" for i in range(500)},
    "not a mapping",
])
def test_request_headers_cannot_redirect_or_smuggle(headers, good):
    """A Host header naming another host would send an allowed connection to another virtual
    host (a CDN front); a line break would smuggle headers: refused, the server gets nothing."""
    policy = NetworkPolicy([good.netloc])
    r = _fetch(policy, f"http://{good.netloc}/", headers=headers)
    assert "error" in r and len(r["error"]) <= 600, r
    time.sleep(0.1)
    assert good.accepts == 0


def test_framing_headers_are_flowcs_own(good):
    """urllib (routed through flowc_http) sends Host, Content-Length and Connection: the URL's
    own Host is accepted, framing headers are dropped and set by flowc: one well-formed
    request reaches the server."""
    policy = NetworkPolicy([good.netloc])
    r = _fetch(policy, f"http://{good.netloc}/p", method="POST", body="abc",
               headers={"Host": good.netloc, "Content-Length": "999", "Connection": "keep-alive",
                        "Transfer-Encoding": "chunked", "Proxy-Authorization": "x",
                        "Content-Type": "text/plain"})
    assert r.get("status") == 200, r
    req = good.requests[0].lower()
    assert b"transfer-encoding" not in req and b"content-length: 3" in req
    assert b"content-length: 999" not in req and b"proxy-authorization" not in req
    assert req.count(b"host:") == 1 and b"content-type: text/plain" in req


@pytest.mark.parametrize("method", ["CONNECT", "TRACE", "GET /x HTTP/1.1\r\nHost: e", "G" * 100_000,
                                    None, 5])
def test_methods(method, good):
    policy = NetworkPolicy([good.netloc])
    r = _fetch(policy, f"http://{good.netloc}/", method=method)
    assert "error" in r and len(r["error"]) <= 600, r
    assert good.accepts == 0


def test_a_redirect_is_not_followed(good, evil):
    reply = (f"HTTP/1.1 302 Found\r\nLocation: http://{evil.netloc}/\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n").encode()
    src = _Server(reply=reply)
    try:
        policy = NetworkPolicy([src.netloc])
        r = _fetch(policy, f"http://{src.netloc}/")
        assert r.get("status") == 302, r
        time.sleep(0.1)
        assert evil.accepts == 0
    finally:
        src.close()


def test_a_name_never_reaches_link_local_addresses(monkeypatch, good):
    """An allowed name whose DNS answers 169.254.169.254 (a cloud's metadata service, by DNS
    rebinding of an allowed domain) is not connected to; an address allowed as such is."""
    from flowc.runtime.sandbox import net

    real = socket.getaddrinfo
    answers = {"meta.allowed.test": "169.254.169.254", "mapped.allowed.test": "::ffff:169.254.1.1",
               "zero.allowed.test": "0.0.0.0", "good.allowed.test": good.host}

    def fake(host, port, *a, **kw):
        if host in answers:
            ip = answers[host]
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            return [(fam, socket.SOCK_STREAM, 6, "", (ip, port) if fam == socket.AF_INET
                     else (ip, port, 0, 0))]
        return real(host, port, *a, **kw)

    monkeypatch.setattr(net.socket, "getaddrinfo", fake)
    attempts = []
    real_connect = socket.socket.connect

    def connect(self, addr):  # only the test's own server is ever really connected to
        attempts.append(addr)
        if addr[:2] != (good.host, good.port):
            raise ConnectionRefusedError("the test connects to nothing else")
        return real_connect(self, addr)

    monkeypatch.setattr(net.socket.socket, "connect", connect)
    policy = NetworkPolicy(["*.allowed.test"])
    for name in ("meta", "mapped", "zero"):
        r = _fetch(policy, f"http://{name}.allowed.test/", timeout=3)
        assert "error" in r and "link-local" in r["error"], r
    assert attempts == []
    r = _fetch(policy, f"http://good.allowed.test:{good.port}/", timeout=5)
    assert attempts == [(good.host, good.port)]
    assert r.get("status") == 200, r


# ---- echoes are short -------------------------------------------------------------------------
def test_messages_echo_a_short_prefix_of_user_data(good):
    policy = NetworkPolicy([good.netloc])
    huge = "h" * 300_000
    for url in (f"http://{huge}.test/", f"http://{good.netloc}/{huge}", f"ftp://{huge}/",
                f"http://{huge}:{good.port}/", f"http://{good.netloc}:{huge}/"):
        r = _fetch(policy, url, timeout=5)
        assert "error" in r and len(r["error"]) <= 600, (url[:40], len(r["error"]))
    for method in ("X" * 300_000,):
        r = _fetch(policy, f"http://{good.netloc}/", method=method)
        assert len(r["error"]) <= 600
    for u in policy.refused + policy.requests:
        assert len(u) <= 300
    r = policy.handle({"fid": "f" * 300_000, "url": 5}, timeout=5)
    assert len(str(r)) <= 1200


def test_the_request_log_is_bounded(good):
    policy = NetworkPolicy([good.netloc])
    for i in range(2000):
        _fetch(policy, f"http://refused-{i}.test/")
    assert len(policy.refused) <= 1000


# ---- a request ends with the execution's deadline --------------------------------------------
def _drip(header_first: bool):
    def reply(conn: socket.socket, stop: threading.Event) -> None:
        if header_first:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(600):  # 2 minutes at most
            if stop.is_set():
                return
            conn.sendall(b"x" if header_first else b"X")
            time.sleep(0.2)
    return reply


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_dripping_server_cannot_hold_the_request_past_the_deadline(where):
    """The server sends one byte every 200 ms (each socket read succeeds long before a
    per-operation timeout). The request gets 1 s in total: its thread has ended soon after,
    with an error, and no thread of the policy's is left behind."""
    src = _Server(reply=_drip(where == "body"))
    try:
        policy = NetworkPolicy([src.netloc])
        before = set(threading.enumerate())
        box: list[dict] = []
        t = threading.Thread(target=lambda: box.append(_fetch(policy, f"http://{src.netloc}/",
                                                              timeout=1.0)), daemon=True)
        t.start()
        t.join(30)  # a bound for a busy machine, not a speed requirement
        assert not t.is_alive(), "the request outlived its deadline by far"
        assert box and "error" in box[0], box
        assert "deadline" in box[0]["error"] or "timed out" in box[0]["error"], box
        bound = time.monotonic() + 10
        while time.monotonic() < bound:
            left = [th for th in set(threading.enumerate()) - before
                    if th is not t and th.is_alive() and "(_answer)" not in th.name
                    and "(_serve)" not in th.name]
            if not left:
                break
            time.sleep(0.05)
        assert not left, left
    finally:
        src.close()


def test_a_deadline_already_passed_makes_no_request(good):
    policy = NetworkPolicy([good.netloc])
    r = _fetch(policy, f"http://{good.netloc}/", timeout=0)
    assert "error" in r
    time.sleep(0.1)
    assert good.accepts == 0


def test_a_large_response_is_capped(good):
    big = _Server(reply=b"HTTP/1.1 200 OK\r\nContent-Length: 6291456\r\nConnection: close\r\n\r\n"
                  + b"z" * 6291456)
    try:
        policy = NetworkPolicy([big.netloc])
        r = _fetch(policy, f"http://{big.netloc}/")
        assert "error" in r and "larger than" in r["error"], r
    finally:
        big.close()


# ---- the rules -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("netloc", "rules", "ok"), [
    ("api.example.com", ("api.example.com",), True),
    ("API.Example.com:443", ("api.example.com",), True),
    ("a.b.example.com", ("*.example.com",), True),
    ("example.com", ("*.example.com",), False),
    ("badexample.com", ("*.example.com",), False),
    ("allowed.test:1@127.0.0.1", ("allowed.test",), False),
    ("allowed.test@127.0.0.1", ("allowed.test",), False),
    ("127.0.0.1:8080@evil.test", ("127.0.0.1:8080",), False),
    ("[::1]:8080", ("[::1]:8080",), True),
    ("[::1]:8081", ("[::1]:8080",), False),
    ("127.0.0.1", ("127.0.0.1:8080",), False),
    ("127.0.0.1:8080", ("127.0.0.1",), True),
    ("evil.test\\@allowed.test", ("allowed.test",), False),
    ("allowed.test.", ("allowed.test",), False),
    ("", ("allowed.test",), False),
    ("allowed.test", (), False),
])
def test_host_allowed_rules(netloc, rules, ok):
    assert host_allowed(netloc, rules) is ok
