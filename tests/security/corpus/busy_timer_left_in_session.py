# ATTACK: in a run session (isolation "run"), return at once but leave a timer that spins forever: the interpreter never reads its input again, so the next execution's request (120 KiB of code, more than a pipe holds) cannot even be written. CONTAINED (expected): every write to the sandbox is bounded by the node's deadline: the next execution fails with a timeout within its own time limit, and the host is never blocked.
# expect: ok; value="left a spinning timer"; session=run; followup=followups/session_big_request.py
import js

js.eval("setTimeout(() => { for (;;) {} }, 50)")
result = "left a spinning timer"
