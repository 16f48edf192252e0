# ATTACK: none beyond the limits: write five output files of 19 MiB (95 MiB, under the documented 100 MiB total and 20 MiB per file): a host that builds one message (or one string) of all the files crashes Deno's heap before the documented limit is reached. CONTAINED (expected): every documented limit is reachable: the five files come back whole, with flowc's memory bounded.
# expect: ok; names=f0.bin,f1.bin,f2.bin,f3.bin,f4.bin; host_mem<600; limits=timeout:60
for i in range(5):
    with open(f"f{i}.bin", "wb") as f:
        f.write(bytes([65 + i]) * (19 << 20))
result = "written"
