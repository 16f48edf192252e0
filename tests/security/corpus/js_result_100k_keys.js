// ATTACK: a result object of 100,000 keys (under a 4 MiB result limit), to slow down or crash the runner's result handling. CONTAINED: a result of that shape is fine: it comes back whole, with flowc's own memory bounded.
// expect: ok; value~"k99999": 99999; host_mem<200; limits=max_result_bytes:4194304
const o = {};
for (let i = 0; i < 100000; i++) o["k" + i] = i;
result = o;
