# ATTACK: await a JS promise that never settles, keeping the event loop alive with a timer, so the host waits for the execution forever while looking idle. CONTAINED: the deadline kills the process.
# expect: error_kind=timeout; limits=timeout:2
import js

js.eval("setInterval(() => {}, 1000)")
await js.eval("new Promise(() => {})")
result = "never"
