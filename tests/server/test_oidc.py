"""Sign-in with OpenID Connect against a loopback identity provider (a real HTTP server that
speaks the protocol: discovery, authorization with PKCE, the token endpoint, JWKS, RS256 ID
tokens). What a forged or mismatched sign-in gets: refused, no session."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import threading
import time
import urllib.parse

import httpx
import pytest
from servekit import client, project_with, serving

PEOPLE = [("carla", ["support_lead"], None, "carla@example.test")]


class IdP:
    """A minimal OpenID provider on 127.0.0.1: it signs in whoever `self.user` says."""

    def __init__(self):
        from joserfc.jwk import RSAKey

        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        self.user = {"sub": "u-1", "email": "carla@example.test", "email_verified": True}
        self.codes: dict[str, dict] = {}
        self.mangle = None  # a function(claims) -> claims, to forge tokens
        self.sign_with = None  # another key
        idp = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _json(self, obj, status=200):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    return self._json({"issuer": idp.issuer,
                                       "authorization_endpoint": idp.issuer + "/authorize",
                                       "token_endpoint": idp.issuer + "/token",
                                       "jwks_uri": idp.issuer + "/jwks"})
                if url.path == "/jwks":
                    return self._json({"keys": [idp.key.as_dict(private=False)]})
                if url.path == "/authorize":
                    code = secrets.token_urlsafe(16)
                    idp.codes[code] = q
                    target = q["redirect_uri"] + "?" + urllib.parse.urlencode(
                        {"code": code, "state": q["state"]})
                    self.send_response(302)
                    self.send_header("location", target)
                    self.end_headers()
                    return None
                self.send_response(404)
                self.end_headers()
                return None

            def do_POST(self):
                from joserfc import jwt

                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                form = dict(urllib.parse.parse_qsl(body.decode()))
                asked = idp.codes.pop(form.get("code"), None)
                if asked is None:
                    return self._json({"error": "invalid_grant"}, 400)
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                if challenge != asked.get("code_challenge"):
                    return self._json({"error": "invalid_grant", "error_description": "PKCE"},
                                      400)
                now = int(time.time())
                claims = {"iss": idp.issuer, "aud": asked["client_id"], "iat": now,
                          "exp": now + 300, "nonce": asked.get("nonce"), **idp.user}
                if idp.mangle:
                    claims = idp.mangle(claims)
                key = idp.sign_with or idp.key
                token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
                return self._json({"access_token": "a", "token_type": "Bearer",
                                   "id_token": token, "expires_in": 300})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def idp():
    p = IdP()
    yield p
    p.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, idp):
    from flowc.server.oidc import OidcConfig

    tmp = tmp_path_factory.mktemp("oidc")
    project = project_with(tmp, "refund_approval")
    with serving(project, tmp / "runs.db", people=PEOPLE, worker=False,
                 oidc=OidcConfig(issuer=idp.issuer, client_id="flowc-test")) as s:
        yield s


def _sign_in(base, idp, *, tamper_state=False, drop_cookie=False):
    c = client(base)
    r = c.get("/signin/oidc", params={"next": "/runs"})
    assert r.status_code == 303
    authorize = r.headers["location"]
    assert authorize.startswith(idp.issuer + "/authorize")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize).query))
    assert q["code_challenge_method"] == "S256" and q["nonce"] and q["state"]
    back = httpx.get(authorize, follow_redirects=False).headers["location"]
    if tamper_state:
        back = back.replace("state=", "state=x")
    if drop_cookie:
        c.cookies.delete("flowc_oidc")
    path = back.removeprefix(base)
    return c, c.get(path)


def test_a_known_person_signs_in_with_the_provider(server, idp):
    base, _ = server
    idp.mangle = idp.sign_with = None
    c, r = _sign_in(base, idp)
    assert r.status_code == 303 and r.headers["location"] == "/runs"
    page = c.get("/inbox")
    assert page.status_code == 200 and 'data-testid="me">carla' in page.text
    assert 'data-testid="sso"' in httpx.get(f"{base}/signin").text


@pytest.mark.parametrize("case", ["unknown person", "unverified e-mail", "wrong audience",
                                  "wrong issuer", "wrong nonce", "expired", "other key",
                                  "tampered state", "no cookie"])
def test_a_forged_or_mismatched_sign_in_is_refused(server, idp, case):
    from joserfc.jwk import RSAKey

    base, _ = server
    idp.mangle = idp.sign_with = None
    if case == "unknown person":
        idp.mangle = lambda c: {**c, "email": "mallory@example.test"}
    elif case == "unverified e-mail":
        idp.mangle = lambda c: {**c, "email_verified": False}
    elif case == "wrong audience":
        idp.mangle = lambda c: {**c, "aud": "another-client"}
    elif case == "wrong issuer":
        idp.mangle = lambda c: {**c, "iss": "http://evil.test"}
    elif case == "wrong nonce":
        idp.mangle = lambda c: {**c, "nonce": "replayed"}
    elif case == "expired":
        idp.mangle = lambda c: {**c, "exp": int(time.time()) - 3600}
    elif case == "other key":
        idp.sign_with = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    try:
        c, r = _sign_in(base, idp, tamper_state=case == "tampered state",
                        drop_cookie=case == "no cookie")
    finally:
        idp.mangle = idp.sign_with = None
    assert r.status_code == 403 and "sign-in refused" in r.text, (case, r.text[:300])
    assert "flowc_session" not in r.headers.get("set-cookie", "")
    assert c.get("/inbox").status_code == 303  # still signed out
