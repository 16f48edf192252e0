# ATTACK: close the host's stdin, stdout and stderr from inside (Deno.stdin/stdout/stderr.close()), so the host can neither read requests nor write its result, and then keep the process alive with a timer: flowc waits on a pipe that nobody will ever write. CONTAINED: flowc notices the closed pipe or the deadline: a failure (crashed or timeout), the process gone.
# expect: error_kind=crashed|timeout|protocol; limits=timeout:3
import js

js.eval("setInterval(() => {}, 1000)")
for name in ("stdout", "stderr", "stdin"):
    try:
        getattr(js.Deno, name).close()
    except Exception:
        pass
result = "closed"
