# ATTACK: print 4 MiB to stdout and stderr against a 64 KiB output limit. CONTAINED: the host stops capturing at the cap; the execution fails with output_limit and the returned output stays under the cap.
# expect: error_kind=output_limit; host_mem<64; limits=max_output_bytes:65536
import sys

line = "x" * 1023
for i in range(4096):
    print(line)
    if i % 2:
        print(line, file=sys.stderr)
result = "flooded"
