"""Network for sandboxed code: none by default; an allowlist of hosts, fetched by the host.

Sandboxed code has no network permission at all. `import flowc_http; await
flowc_http.get(url)` sends the request to this side, which checks the URL against the node's
allowlist and only then makes the request, with a timeout and a size cap.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from urllib.parse import urlsplit

__all__ = ["NetworkPolicy", "host_allowed"]

_MAX_BODY = 5 * 1024 * 1024


def host_allowed(netloc: str, allowed: tuple[str, ...]) -> bool:
    """`api.example.com`, `*.example.com` (subdomains), `127.0.0.1:8080` (host and port)."""
    netloc = netloc.lower()
    host = netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc
    for rule in allowed:
        rule = rule.lower()
        if rule.startswith("*."):
            if host.endswith(rule[1:]) and host != rule[2:]:
                return True
        elif ":" in rule:
            if netloc == rule:
                return True
        elif host == rule:
            return True
    return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect could leave the allowlist
        return None


class NetworkPolicy:
    def __init__(self, allowed_hosts, timeout: float = 15.0):
        self.allowed = tuple(allowed_hosts)
        self.timeout = timeout
        self.requests: list[str] = []
        self.refused: list[str] = []

    def handle(self, msg: dict, timeout: float | None = None) -> dict:
        """Answer one fetch request; never raises (a failure is an error answer)."""
        try:
            return self._handle(msg, self.timeout if timeout is None else
                                max(0.1, min(self.timeout, timeout)))
        except Exception as e:  # anything the request did is the code's problem
            return {"op": "fetch_result", "fid": msg.get("fid"),
                    "error": f"request failed: {type(e).__name__}: {e}"[:300]}

    def _handle(self, msg: dict, timeout: float) -> dict:
        fid = msg.get("fid")
        url = str(msg.get("url", ""))
        method = str(msg.get("method", "GET")).upper()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.refused.append(url)
            return {"op": "fetch_result", "fid": fid, "error": f"only http(s) URLs: {url[:200]}"}
        if not host_allowed(parts.netloc, self.allowed):
            self.refused.append(url)
            allowed = ", ".join(self.allowed) or "none"
            return {"op": "fetch_result", "fid": fid,
                    "error": f"network access to {parts.netloc} is not allowed "
                    f"(this node may reach: {allowed})"}
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
            return {"op": "fetch_result", "fid": fid, "error": f"method {method} not allowed"}
        headers = msg.get("headers") if isinstance(msg.get("headers"), dict) else {}
        body = msg.get("body")
        data = body.encode() if isinstance(body, str) else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={str(k): str(v) for k, v in headers.items()})
        opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))
        self.requests.append(url)
        try:
            with opener.open(req, timeout=timeout) as resp:
                raw = resp.read(_MAX_BODY + 1)
                status, rh = resp.status, dict(resp.headers)
        except urllib.error.HTTPError as e:
            raw, status, rh = e.read(_MAX_BODY + 1), e.code, dict(e.headers)
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
            return {"op": "fetch_result", "fid": fid, "error": f"request failed: {e}"[:300]}
        if len(raw) > _MAX_BODY:
            return {"op": "fetch_result", "fid": fid,
                    "error": f"response larger than {_MAX_BODY} bytes"}
        return {"op": "fetch_result", "fid": fid, "status": status, "headers": rh,
                "text": raw.decode("utf-8", errors="replace")}
