"""The ids the store mints: run ids that sort by time, unguessable file handles, short task ids."""

from __future__ import annotations

import secrets
import time

__all__ = ["new_file_id", "new_run_id", "new_task_id"]

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def _base32(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 32)
        out.append(_CROCKFORD[r])
    return "".join(reversed(out))


def new_run_id(now: float | None = None) -> str:
    """26 characters that sort by creation time: 48 bits of milliseconds, 80 random bits."""
    ms = int((time.time() if now is None else now) * 1000) & (2**48 - 1)
    return _base32(ms, 10) + _base32(secrets.randbits(80), 16)


def new_file_id() -> str:
    """An unguessable file handle (128 random bits)."""
    return "f" + secrets.token_hex(16)


def new_task_id() -> str:
    """10 random Crockford base32 characters (50 bits): short enough to type from an inbox."""
    return _base32(secrets.randbits(50), 10)
