# ATTACK: the host measures the code's time with performance.now, which the code can replace: make it jump by 9e8 ms (10 days, inside any sanity bound), so that the node's reported elapsed time, in traces and metrics, is forged. CONTAINED (expected): the time flowc reports is flowc's own measurement: never longer than the call took.
# expect: ok; value="done"
import js

js.eval("(() => { const start = performance.now(); performance.now = () => start + 9e8; })()")
result = "done"
