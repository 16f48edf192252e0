"""Network for sandboxed code: none by default; an allowlist of hosts, fetched by the host.

Sandboxed code has no network permission at all. `import flowc_http; await
flowc_http.get(url)` sends the request to this side, which checks the URL against the node's
allowlist and only then makes the request, with a deadline and a size cap.

The URL is parsed once, strictly, and the check and the connection both use that one parse:
the connection goes to the host and port that were checked, and the request line is built
from the parsed path and query. Anything a second parser could read differently is refused:
userinfo (`allowed.test:1@127.0.0.1`), backslashes, whitespace and control characters,
non-ASCII (IDN look-alikes: write `xn--` names), percent-encoded or empty hosts, numeric hosts
other than a dotted quad (`2130706433`, `0x7f.1`), ports out of range or not plain digits.
An allowed name never leads to a link-local address (169.254.169.254, a cloud's metadata
service), whatever its DNS answers.
A Host header (a connection to an allowed CDN front serving another site) and framing
headers (request smuggling) are refused too. The whole request (name lookup, connect, TLS,
headers, body) ends at the execution's deadline: a watchdog shuts the socket down then, so a
server dripping one byte at a time cannot hold the request thread. Every message echoes at
most a short prefix of what the program sent.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from urllib.parse import SplitResult, urlsplit

__all__ = ["NetworkPolicy", "host_allowed"]

_MAX_BODY = 5 * 1024 * 1024       # response body
_MAX_REQUEST_BODY = 16 * 1024 * 1024
_MAX_URL = 8192
_MAX_HEADERS = 100
_MAX_HEADER_BYTES = 16 * 1024     # one request header, name and value
_MAX_LOG = 1000                   # URLs kept in `requests` and `refused`
_ECHO = 200                       # characters of user data in any message
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
_FLOWC_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "upgrade",
                  "te", "trailer", "expect", "keep-alive"}  # framing: flowc's own, dropped
_URL_CHARS = re.compile(r"[!#$%&'()*+,\-./0-9:;=?@A-Z\[\]_a-z~]*")   # printable ASCII, no
# space, backslash, quote, <, >, ^, `, {, |, }: what an RFC 3986 URL may hold unescaped
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_DOTTED_QUAD = re.compile(r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
                          r"(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_DEFAULT_PORT = {"http": 80, "https": 443}


def _echo(value: object) -> str:
    """At most `_ECHO` characters of user data, printable."""
    text = value if isinstance(value, str) else repr(value)
    text = text[: _ECHO + 1].encode("ascii", "backslashreplace").decode()
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text[:_ECHO] + ("..." if len(text) > _ECHO else "")


class _Refused(Exception):
    pass


def _host(raw: str) -> str:
    """A lower-case DNS name, a dotted-quad IPv4 address, or an IPv6 address (no brackets);
    anything that a resolver could read as something else is refused."""
    if raw.startswith("[") and raw.endswith("]"):
        try:
            addr = ipaddress.IPv6Address(raw[1:-1])
        except ValueError:
            raise _Refused("not an IPv6 address") from None
        return str(addr)
    host = raw.lower()
    if not host:
        raise _Refused("no host")
    if len(host) > 253:
        raise _Refused("a host name longer than 253 characters")
    labels = host.split(".")
    if any(not _LABEL.fullmatch(label) for label in labels):
        raise _Refused("a host name that is not plain ASCII letters, digits, dots and "
                       "hyphens (write an IDN as xn--)")
    if re.fullmatch(r"[0-9]+|0x[0-9a-f]*", labels[-1]) and not _DOTTED_QUAD.fullmatch(host):
        raise _Refused("a numeric host that is not a dotted-quad IPv4 address")
    return host


def _netloc(netloc: str) -> tuple[str, int | None]:
    """(host, port or None) of a URL's authority, strictly."""
    if "@" in netloc:
        raise _Refused("user information in the URL")
    m = re.fullmatch(r"(\[[^\]]*\]|[^:\[\]]*)(?::([0-9]{1,5}))?", netloc)
    if m is None:
        raise _Refused("a host or port that cannot be read one way only")
    host, port_text = m.group(1), m.group(2)
    port = None
    if port_text is not None:
        port = int(port_text)
        if not 1 <= port <= 65535 or (len(port_text) > 1 and port_text[0] == "0"):
            raise _Refused("a port out of range")
    return _host(host), port


def _parse_url(url: object) -> tuple[SplitResult, str, int]:
    """(parts, host, port) of an http(s) URL, or _Refused."""
    if not isinstance(url, str):
        raise _Refused("the URL is not text")
    if len(url) > _MAX_URL:
        raise _Refused(f"a URL longer than {_MAX_URL} characters")
    if not _URL_CHARS.fullmatch(url):
        raise _Refused("characters a URL may not hold (whitespace, control characters, "
                       "backslashes, non-ASCII: percent-encode them)")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORT:
        raise _Refused("only http(s) URLs")
    if not url[len(parts.scheme):].startswith("://"):
        raise _Refused("no host")
    host, port = _netloc(parts.netloc)
    return parts, host, port if port is not None else _DEFAULT_PORT[scheme]


class _Rule:
    def __init__(self, rule: str):
        rule = str(rule).strip().lower()
        self.wildcard = rule.startswith("*.")
        try:
            host, self.port = _netloc(rule[2:] if self.wildcard else rule)
        except _Refused:
            host, self.port = "", None  # a rule that cannot be read allows nothing
        self.host = host

    def allows(self, host: str, port: int | None) -> bool:
        if not self.host:
            return False
        if self.port is not None and port != self.port:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def host_allowed(netloc: str, allowed: tuple[str, ...]) -> bool:
    """`api.example.com` (any port), `*.example.com` (subdomains), `127.0.0.1:8080` (host and
    port), `[::1]:8080`. A netloc that is not plainly one host and port is never allowed."""
    try:
        host, port = _netloc(str(netloc))
    except _Refused:
        return False
    return any(_Rule(r).allows(host, port) for r in allowed)


def _fid(msg: object) -> int | str | None:
    """A request's id as it may be echoed back: a number or a short text, else None."""
    fid = msg.get("fid") if isinstance(msg, dict) else None
    if not isinstance(fid, (int, str)) or isinstance(fid, bool) or (
            isinstance(fid, str) and len(fid) > 64):
        return None
    return fid


class NetworkPolicy:
    def __init__(self, allowed_hosts, timeout: float = 15.0, idempotency_key: str | None = None):
        self.allowed = tuple(allowed_hosts)
        # an external effect's key: every request carries it as `Idempotency-Key` unless the
        # code set that header itself (runtime/effects.py)
        self.idempotency_key = idempotency_key
        self._rules = [_Rule(r) for r in self.allowed]
        self.timeout = timeout
        self.requests: list[str] = []   # URLs requested (each at most _ECHO characters)
        self.refused: list[str] = []    # URLs refused
        self.dropped = 0                # entries not kept past _MAX_LOG
        self._lock = threading.Lock()

    def _log(self, into: list[str], url: object) -> None:
        with self._lock:
            if len(into) < _MAX_LOG:
                into.append(_echo(url))
            else:
                self.dropped += 1

    def handle(self, msg: dict, timeout: float | None = None) -> dict:
        """Answer one fetch request within `timeout` seconds in total (the execution's
        remaining time); never raises (a failure is an error answer)."""
        fid = _fid(msg)
        limit = self.timeout if timeout is None else min(self.timeout, timeout)
        if limit <= 0:
            return {"op": "fetch_result", "fid": fid,
                    "error": "the execution's deadline has passed: no request was made"}
        try:
            return {"op": "fetch_result", "fid": fid,
                    **self._handle(msg, time.monotonic() + limit, limit)}
        except Exception as e:  # anything the request did is the code's problem
            return {"op": "fetch_result", "fid": fid,
                    "error": f"request failed: {type(e).__name__}: {_echo(str(e))}"}

    def refusal(self, msg: dict) -> dict | None:
        """The answer to a request that the allowlist refuses (recorded as refused), or None
        for one it allows: checked at once, without a thread or any I/O, so that a flood of
        refused requests costs flowc little."""
        if not isinstance(msg, dict):
            return {"op": "fetch_result", "fid": None, "error": "malformed request"}
        refused = self._refuse(msg.get("url"))
        if refused is None:
            return None
        return {"op": "fetch_result", "fid": _fid(msg), **refused}

    def _refuse(self, url: object) -> dict | None:
        try:
            _, host, port = _parse_url(url)
        except _Refused as e:
            self._log(self.refused, url)
            return {"error": f"refused URL {_echo(url)}: {e}"}
        if not any(rule.allows(host, port) for rule in self._rules):
            self._log(self.refused, url)
            allowed = _echo(", ".join(self.allowed) or "none")
            return {"error": f"network access to {_echo(host)} is not allowed "
                    f"(this node may reach: {allowed})"}
        return None

    def _handle(self, msg: dict, deadline: float, limit: float) -> dict:
        url = msg.get("url")
        refused = self._refuse(url)
        if refused is not None:
            return refused
        parts, host, port = _parse_url(url)
        method = msg.get("method", "GET")
        method = method.upper() if isinstance(method, str) else method
        if method not in _METHODS:
            return {"error": f"method {_echo(method)} not allowed"}
        headers = msg.get("headers") if msg.get("headers") is not None else {}
        try:
            headers = _headers(headers, host, port)
        except _Refused as e:
            return {"error": f"request headers refused: {e}"}
        if self.idempotency_key and not any(k.lower() == "idempotency-key" for k in headers):
            headers["Idempotency-Key"] = self.idempotency_key
        body = msg.get("body")
        if body is not None and not isinstance(body, str):
            return {"error": "the request body must be text"}
        data = body.encode("utf-8", "replace") if body is not None else None
        if data is not None and len(data) > _MAX_REQUEST_BODY:
            return {"error": f"a request body larger than {_MAX_REQUEST_BODY} bytes"}
        self._log(self.requests, url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            status, rh, raw = _request(parts.scheme.lower(), host, port, method, target,
                                       headers, data, deadline)
        except _Deadline:
            return {"error": f"the request did not finish before the execution's deadline "
                    f"({limit:.3g} s left when it started)"}
        except (OSError, ValueError, http.client.HTTPException) as e:
            return {"error": f"request failed: {type(e).__name__}: {_echo(str(e))}"}
        if raw is None:
            return {"error": f"response larger than {_MAX_BODY} bytes"}
        return {"status": status, "headers": rh, "text": raw.decode("utf-8", errors="replace")}


def _headers(headers: object, host: str, port: int) -> dict[str, str]:
    """The program's headers, checked. Framing headers (Content-Length, Transfer-Encoding,
    Connection...) are flowc's to set and are dropped, so no second request can be smuggled;
    a Host header must name the URL's own host (urllib sends one), since another name would
    reach another site behind an allowed front."""
    if not isinstance(headers, dict):
        raise _Refused("headers must be a mapping of name to text")
    if len(headers) > _MAX_HEADERS:
        raise _Refused(f"more than {_MAX_HEADERS} headers")
    out = {}
    for k, v in headers.items():
        k, v = str(k), str(v)
        if not _HEADER_NAME.fullmatch(k):
            raise _Refused(f"header name {_echo(k)} is not a token")
        if len(k) + len(v) > _MAX_HEADER_BYTES or not _HEADER_VALUE.fullmatch(v):
            raise _Refused(f"header {_echo(k)} has a value that is too long or holds "
                           "control characters")
        name = k.lower()
        if name == "host":
            try:
                h, p = _netloc(v.strip().lower())
            except _Refused:
                h, p = "", None
            if h != host or p not in (None, port):
                raise _Refused(f"a Host header ({_echo(v)}) that names another host than "
                               "the URL's")
            continue
        if name in _FLOWC_HEADERS or name.startswith("proxy-"):
            continue
        out[k] = v
    return out


class _Deadline(Exception):
    pass


class _Watchdog:
    """Shuts the request's socket down at the deadline: every blocking call returns."""

    def __init__(self, deadline: float):
        self.sock: socket.socket | None = None
        self.fired = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.name = "flowc-net-deadline"
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self.sock is not None:
                try:
                    socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
                except OSError:
                    pass

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self.sock = sock
            if self.fired:
                raise _Deadline()

    def stop(self) -> None:
        self._timer.cancel()
        self._timer.join(5)


def _resolve(host: str, port: int, deadline: float) -> list:
    """getaddrinfo, on a thread of its own when the host is a name: a lookup cannot be
    interrupted, so the request stops waiting for it at the deadline."""
    if _is_ip(host):
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                  flags=socket.AI_NUMERICHOST)
    box: list = []

    def lookup() -> None:
        try:
            box.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as e:
            box.append(e)

    t = threading.Thread(target=lookup, name="flowc-net-lookup", daemon=True)
    t.start()
    t.join(max(0.0, deadline - time.monotonic()))
    if not box:
        raise _Deadline()
    if isinstance(box[0], OSError):
        raise box[0]
    return box[0]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _reachable_by_name(addr: tuple) -> bool:
    """False for a link-local (a cloud's metadata service: 169.254.169.254, fe80::),
    unspecified or multicast address: an allowed *name* never leads there (by DNS rebinding
    of an allowed domain, say); an allowlist that names such an address itself still can."""
    try:
        ip = ipaddress.ip_address(str(addr[0]).split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def _request(scheme: str, host: str, port: int, method: str, target: str,
             headers: dict[str, str], data: bytes | None, deadline: float):
    """(status, headers, body or None when over the cap), all before `deadline`."""
    addrs = _resolve(host, port, deadline)
    if not _is_ip(host):  # a name: only where a name may lead
        addrs = [a for a in addrs if _reachable_by_name(a[4])]
        if not addrs:
            raise OSError(f"{_echo(host)} resolves only to link-local, unspecified or multicast "
                          "addresses, which a host name never reaches (allow the address itself)")
    dog = _Watchdog(deadline)
    conn = None
    try:
        sock, error = None, None
        for family, kind, proto, _name, addr in addrs:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Deadline()
            s = socket.socket(family, kind, proto)
            dog.watch(s)
            s.settimeout(remaining)
            try:
                s.connect(addr)
                sock = s
                break
            except OSError as e:
                s.close()
                error = e
        if sock is None:
            if dog.fired:
                raise _Deadline()
            raise error or OSError(f"cannot reach {host}")
        if scheme == "https":
            sock = ssl.create_default_context().wrap_socket(
                sock, server_hostname=host, do_handshake_on_connect=False)
            dog.watch(sock)  # the watchdog shuts down the TLS socket's descriptor from now on
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            sock.do_handshake()
        display = f"[{host}]" if ":" in host else host
        conn = http.client.HTTPConnection(display, port)
        conn.sock = sock
        conn.request(method, target, body=data, headers={
            **({"Host": display if port == _DEFAULT_PORT[scheme] else f"{display}:{port}"}),
            "Accept-Encoding": "identity", **headers})
        resp = conn.getresponse()
        status, rh = resp.status, dict(resp.headers)
        raw = bytearray()
        while len(raw) <= _MAX_BODY:
            piece = resp.read(min(65536, _MAX_BODY + 1 - len(raw)))
            if not piece:
                break
            raw += piece
        if dog.fired:  # what was read may be cut short by the shutdown
            raise _Deadline()
        return status, rh, (bytes(raw) if len(raw) <= _MAX_BODY else None)
    except (OSError, http.client.HTTPException, ValueError):
        if dog.fired:
            raise _Deadline() from None
        raise
    finally:
        dog.stop()
        if conn is not None:
            conn.close()
        elif dog.sock is not None:
            dog.sock.close()
