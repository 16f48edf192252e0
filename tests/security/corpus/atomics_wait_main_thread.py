# ATTACK: block the host's only JS thread with Atomics.wait on a SharedArrayBuffer (allowed on Deno's main thread), with no timeout: no timer, message or signal handler of the host can run again. CONTAINED: the timeout is a SIGKILL from flowc; the process is gone after the call.
# expect: error_kind=timeout; limits=timeout:2
import js

js.eval("Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)")
result = "never"
