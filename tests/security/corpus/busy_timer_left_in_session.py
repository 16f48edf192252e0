# ATTACK: in a run session (isolation "run"), return at once but leave a timer that spins forever: the interpreter never reads its input again, so the next execution's request (120 KiB of code, more than a pipe holds) cannot even be written. CONTAINED (expected): every write to the sandbox is bounded by the node's deadline: the next execution fails with a timeout within its own time limit, and the host is never blocked.
# expect: ok; value="left a spinning timer"; session=run; followup=followups/session_big_request.py
# (The timer first lets a few turns of the event loop pass, so the result is sent before it spins
# even on a machine so busy that the code itself outlasts the 50 ms: this program's own time below
# makes that case certain; a timer that spins straight away would keep its own result back.)
import js
import time

js.eval("""
setTimeout(() => {
  let hops = 8;
  const hop = () => {
    if (--hops <= 0) { for (;;) {} }
    if (hops % 2) { setTimeout(hop, 0); return; }
    const c = new MessageChannel();
    c.port1.onmessage = () => { c.port1.close(); c.port2.close(); hop(); };
    c.port2.postMessage("");
  };
  hop();
}, 50)
""")
t = time.time()
while time.time() - t < 0.3:  # outlast the timer's 50 ms, as a busy machine would
    pass
result = "left a spinning timer"
