# ATTACK: a synchronous request (get_sync) to the slow page from a timer callback that spins forever once it is sent, so the answer arrives at an interpreter that never takes it; meanwhile the execution itself awaits a promise that never settles. CONTAINED: the deadline kills the process; the request thread ends with it.
# expect: error_kind=timeout; allow=server; server=hit; limits=timeout:2
import _flowc_host
import js

_flowc_host.fetch(SERVER + "/slow", "GET", {}, None)
js.eval("setTimeout(() => { for (;;) {} }, 100)")
await js.eval("new Promise(() => {})")
