"""Sign-in with an OpenID Connect provider (optional): the authorization code flow with PKCE
(Authlib's OAuth 2.0 client), the ID token's signature checked against the provider's keys and
its claims (issuer, audience, expiry, nonce) with joserfc.

The person signing in must already be known to flowc (`flowc people`): the ID token's
`email` (verified, when the provider says) is looked up among people's e-mails, else its
`preferred_username` among their names. Roles always come from flowc's store, never from the
provider. The state, nonce and PKCE verifier travel in a signed, short-lived, HttpOnly cookie
bound to this sign-in attempt; a callback without it, with another state, or after 10 minutes
is refused."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["OidcConfig", "OidcError", "OidcProvider"]

STATE_TTL = 600.0


class OidcError(ValueError):
    """A sign-in that cannot be accepted; the message is one line for the page."""


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str | None = None
    scope: str = "openid email profile"


class OidcProvider:
    def __init__(self, config: OidcConfig, redirect_uri: str, secret: str, *,
                 clock=time.time, http: httpx.Client | None = None):
        from itsdangerous import URLSafeTimedSerializer

        self.config = config
        self.redirect_uri = redirect_uri
        self.clock = clock
        self.http = http or httpx.Client(timeout=10.0)
        self._state = URLSafeTimedSerializer(secret, salt="flowc-oidc-state")
        self._meta: dict[str, Any] | None = None
        self._keys: Any = None

    # -- the provider's documents
    def metadata(self) -> dict[str, Any]:
        if self._meta is None:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                meta = self.http.get(url).raise_for_status().json()
            except (httpx.HTTPError, ValueError) as e:
                raise OidcError(f"the identity provider cannot be reached ({url}): "
                                f"{type(e).__name__}") from None
            if not isinstance(meta, dict) or meta.get("issuer") != self.config.issuer:
                raise OidcError("the identity provider's discovery document names another "
                                "issuer")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(meta.get(key), str):
                    raise OidcError(f"the identity provider's discovery document has no {key}")
            self._meta = meta
        return self._meta

    def _keyset(self, refresh: bool = False):
        from joserfc.jwk import KeySet

        if self._keys is None or refresh:
            try:
                data = self.http.get(self.metadata()["jwks_uri"]).raise_for_status().json()
                self._keys = KeySet.import_key_set(data)
            except (httpx.HTTPError, ValueError) as e:
                raise OidcError(f"the identity provider's keys cannot be read: "
                                f"{type(e).__name__}") from None
        return self._keys

    # -- the flow
    def start(self, next_path: str) -> tuple[str, str]:
        """(the provider's authorization URL, the state cookie's value)."""
        from authlib.common.security import generate_token
        from authlib.integrations.httpx_client import OAuth2Client

        verifier = generate_token(64)
        nonce, state = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        client = OAuth2Client(self.config.client_id, self.config.client_secret,
                              scope=self.config.scope, redirect_uri=self.redirect_uri,
                              code_challenge_method="S256")
        url, _ = client.create_authorization_url(self.metadata()["authorization_endpoint"],
                                                 state=state, nonce=nonce,
                                                 code_verifier=verifier)
        cookie = self._state.dumps({"state": state, "nonce": nonce, "verifier": verifier,
                                    "next": next_path, "at": self.clock()})
        return url, cookie

    def finish(self, cookie: str | None, state: str | None, code: str | None,
               error: str | None = None) -> dict[str, Any]:
        """The ID token's claims of a finished sign-in, checked; OidcError otherwise."""
        from authlib.integrations.httpx_client import OAuth2Client
        from itsdangerous import BadSignature

        if error:
            raise OidcError(f"the identity provider refused: {str(error)[:100]}")
        if not cookie or len(cookie) > 4096:
            raise OidcError("this sign-in did not start here (or its cookie is gone): sign in "
                            "again")
        try:
            saved = self._state.loads(cookie)
        except BadSignature:
            raise OidcError("this sign-in's cookie is not ours: sign in again") from None
        if not isinstance(saved, dict) or self.clock() - float(saved.get("at", 0)) > STATE_TTL:
            raise OidcError("this sign-in took too long: sign in again")
        if not state or not secrets.compare_digest(str(state), str(saved.get("state"))):
            raise OidcError("the sign-in's state does not match: sign in again")
        if not code or len(code) > 4096:
            raise OidcError("the identity provider sent no code")
        client = OAuth2Client(self.config.client_id, self.config.client_secret,
                              redirect_uri=self.redirect_uri, code_challenge_method="S256",
                              timeout=10.0)
        try:
            token = client.fetch_token(self.metadata()["token_endpoint"], code=code,
                                       code_verifier=saved["verifier"],
                                       grant_type="authorization_code")
        except Exception as e:
            raise OidcError(f"the code could not be exchanged: {type(e).__name__}: "
                            f"{str(e)[:150]}") from None
        id_token = token.get("id_token") if isinstance(token, dict) else None
        if not isinstance(id_token, str):
            raise OidcError("the identity provider sent no ID token")
        claims = self._claims(id_token, saved["nonce"])
        claims["_next"] = saved.get("next") or "/inbox"
        return claims

    def _claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import JoseError

        token = None
        for refresh in (False, True):  # a key the provider rotated in: read its keys again
            try:
                token = jwt.decode(id_token, self._keyset(refresh),
                                   algorithms=["RS256", "ES256", "PS256"])
                break
            except JoseError as e:
                if refresh:
                    raise OidcError(f"the ID token's signature does not check: "
                                    f"{type(e).__name__}") from None
            except ValueError:
                raise OidcError("the ID token is malformed") from None
        registry = jwt.JWTClaimsRegistry(
            now=int(self.clock()), leeway=60,
            iss={"essential": True, "value": self.config.issuer},
            aud={"essential": True, "value": self.config.client_id},
            exp={"essential": True}, sub={"essential": True},
            nonce={"essential": True, "value": nonce})
        try:
            registry.validate(token.claims)
        except JoseError as e:
            raise OidcError(f"the ID token is not for this sign-in ({type(e).__name__}: "
                            f"{str(e)[:100]})") from None
        return dict(token.claims)

    @staticmethod
    def person_for(store, claims: dict[str, Any]):
        """The flowc person the claims name (by verified e-mail, else by username)."""
        email = claims.get("email")
        if isinstance(email, str) and email and claims.get("email_verified", True) is not False:
            for p in store.list_people():
                if p.email and p.email.lower() == email.lower():
                    return p
        name = claims.get("preferred_username")
        if isinstance(name, str) and name:
            person = store.get_person(name)
            if person is not None:
                return person
        raise OidcError("you signed in with the identity provider, but flowc does not know "
                        "you: ask for `flowc people NAME ROLE... --email YOUR-EMAIL`")
