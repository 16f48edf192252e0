"""Who is asking: passwords (argon2), web sessions, CSRF tokens, sign-in rate limiting and
API tokens.

- A password is kept as an argon2id hash (argon2-cffi); a person without one cannot sign in
  with a password (a signed link or an API token still works).
- A web session is a random 256-bit id in a cookie (`HttpOnly`, `Secure`, `SameSite=Lax`,
  path /); the store keeps only its sha256, with the person, an expiry and the session's CSRF
  token. Signing out deletes it.
- Every form POST carries the session's CSRF token (a hidden field `csrf`), compared in
  constant time; the sign-in form, before any session, carries a token bound to a pre-session
  cookie (double submit). A missing or wrong token is refused (403) before anything happens.
- Sign-in attempts are limited per person (5 failures in 5 minutes) and per client address
  (30): past that, further attempts are refused (429) until the window passes, whether or not
  the password is right. The count lives in the server process (documented:
  several server processes each count their own).
- An API call carries `Authorization: Bearer TOKEN`; the store keeps the token's sha256.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

__all__ = ["RateLimiter", "Who", "hash_password", "new_secret", "record_person", "same",
           "verify_password"]

MAX_PASSWORD_BYTES = 1024
_HASHER: list = []


def _hasher():
    """argon2 (the serve extra), imported when a password is first hashed or checked; with a
    hash to verify against when the person does not exist: the same work either way, so the
    time taken does not say whether a name is known."""
    if not _HASHER:
        from argon2 import PasswordHasher

        h = PasswordHasher()
        _HASHER[:] = [h, h.hash("flowc: no such person")]
    return _HASHER[0], _HASHER[1]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two tokens (False when either is missing)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("the password is empty")
    if len(password.encode("utf-8", "replace")) > MAX_PASSWORD_BYTES:
        raise ValueError(f"the password is longer than {MAX_PASSWORD_BYTES} bytes")
    try:
        hasher, _ = _hasher()
    except ImportError:
        raise ValueError("passwords need the serve extra: pip install 'flowc[serve]'") from None
    return hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if len(password.encode("utf-8", "replace")) > MAX_PASSWORD_BYTES:
        return False
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    hasher, dummy = _hasher()
    try:
        return hasher.verify(stored or dummy, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def record_person(store, name: str, roles, *, email: str | None = None,
                  password: str | None = None) -> None:
    """Create or update a person in the store: roles (None: kept), e-mail ("" clears it),
    password (hashed here; None: kept). ValueError for an unusable e-mail or password."""
    kw = {}
    if roles is not None:
        kw["roles"] = list(roles)
    if email is not None:
        if email and ("@" not in email or any(c in email for c in "\r\n <>,;\"")):
            raise ValueError(f"--email `{email}` is not an e-mail address")
        kw["email"] = email or None
    if password is not None:
        try:
            kw["password_hash"] = hash_password(password)
        except ValueError as e:
            raise ValueError(f"the password: {e}") from None
    store.set_person(name, **kw)


@dataclass(frozen=True)
class Who:
    """The person behind a request and how they proved it."""
    name: str
    roles: tuple[str, ...]
    via: str  # "session" | "token"
    csrf: str | None = None
    session: str | None = None


class RateLimiter:
    """At most `max_failures` failed sign-ins per key in any `window` seconds."""

    def __init__(self, max_failures: int = 5, window: float = 300.0, clock=time.monotonic):
        self.max_failures, self.window, self.clock = max_failures, window, clock
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> bool:
        now = self.clock()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.max_failures for k in keys)

    def attempt(self, key: str) -> bool:
        """Count one attempt for `key` before it is checked, in one step: False (and nothing
        counted) when `key` is already at its limit. Concurrent attempts cannot all pass the
        check before any of them is counted; a success gives its count back (`succeeded`)."""
        now = self.clock()
        with self._lock:
            q = self._recent(key, now)
            if len(q) >= self.max_failures:
                return False
            q.append(now)
            return True

    def forgive(self, key: str) -> None:
        """Give back one attempt counted by `attempt` (it succeeded)."""
        with self._lock:
            q = self._fails.get(key)
            if q:
                q.pop()

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)
            if len(self._fails) > 100_000:  # bounded: forget the quiet ones
                for k in [k for k, q in self._fails.items() if not q][:50_000]:
                    del self._fails[k]

    def succeeded(self, person_key: str) -> None:
        with self._lock:
            self._fails.pop(person_key, None)
