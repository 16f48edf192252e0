# ATTACK: print 1 GiB with sys.stdout.write and no newline at all, 1 MiB at a time: Pyodide's line-batched stdout keeps a partial line until its newline, so output that never ends a line is never handed to the host's counter. CONTAINED (expected): the output cap (or the memory cap) stops it well before the timeout, never a 1 GiB buffer.
# expect: error_kind=output_limit|memory; limits=max_output_bytes:65536,timeout:60; elapsed<40
import sys

chunk = "x" * (1 << 20)
for _ in range(1024):
    sys.stdout.write(chunk)
sys.stdout.flush()
result = "flooded"
