# ATTACK: a dictionary of 100,000 keys (1.8 MB of JSON, under a 4 MiB result limit), to slow or crash the host's result handling. CONTAINED: a result of that shape is fine: it comes back whole, quickly, with flowc's own memory bounded.
# expect: ok; value~"k99999": 99999; host_mem<200; limits=max_result_bytes:4194304
result = {f"k{i}": i for i in range(100_000)}
