# ATTACK: send 20,000 flowc_http requests to a host that is not allowed, as fast as messages can be written: each costs the sandbox a few microseconds and flowc a thread, a policy check and an answer, so one node can keep flowc's own CPU busy for seconds (every other node it serves waits). CONTAINED (expected): refusing is cheap for flowc (or the number of requests is capped): 20,000 refusals cost it under 2.5 s of CPU.
# expect: ok; value=20000; host_cpu<2.5; limits=timeout:60
import _flowc_host

pending = [_flowc_host.fetch("http://refused.test/", "GET", {}, None) for _ in range(20000)]
n = 0
for p in pending:
    try:
        await p
    except Exception:
        n += 1
result = n
