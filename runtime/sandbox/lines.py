"""Reading a sandbox's stdout: messages are lines that start with the process's nonce.

Everything else (what sandboxed code writes to the real stdout) is dropped as it streams
past, counted but never kept whole or parsed, so junk output costs flowc no memory.
"""

from __future__ import annotations

import os
import queue

__all__ = ["read_nonce_lines"]


def read_nonce_lines(fd: int, nonce: str, out: queue.Queue, owner) -> None:
    """Put ("line", payload) for each message, then ("eof", None); ("overlong", None) when a
    message outgrows `owner.max_line`. Counts junk in `owner.garbage_lines/garbage_bytes`."""
    prefix = (nonce + " ").encode()
    buf = bytearray()
    keeping: bool | None = None  # unknown until the line's first bytes are seen
    try:
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            start = 0
            while start < len(chunk):
                nl = chunk.find(b"\n", start)
                piece = chunk[start:] if nl == -1 else chunk[start:nl]
                if keeping is None or keeping:
                    buf += piece
                    if keeping is None and len(buf) >= len(prefix):
                        keeping = bytes(buf[: len(prefix)]) == prefix
                        if not keeping:
                            owner.garbage_bytes += len(buf)
                            buf.clear()
                    if keeping and len(buf) > owner.max_line:
                        out.put(("overlong", None))
                        return
                else:
                    owner.garbage_bytes += len(piece)
                if nl == -1:
                    break
                if keeping is None:  # a line shorter than the prefix
                    keeping = False
                    owner.garbage_bytes += len(buf)
                if keeping:
                    out.put(("line", bytes(buf[len(prefix):])))
                else:
                    owner.garbage_lines += 1
                buf.clear()
                keeping = None
                start = nl + 1
    except (OSError, ValueError):
        pass
    out.put(("eof", None))
