# ATTACK: print 1 GiB in 1 MiB lines, against the default 1 MiB output limit: an output cap checked only at the end lets this run to the timeout and buffer it all. CONTAINED: output is capped as it streams: output_limit, the process stopped at the cap (long before the 60 s timeout).
# expect: error_kind=output_limit; host_mem<64; limits=timeout:60; elapsed<40
line = "y" * ((1 << 20) - 1)
for _ in range(1024):
    print(line)
result = "printed"
