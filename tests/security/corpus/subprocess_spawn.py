# ATTACK: start host processes with subprocess, os.popen, os.fork, os.execv and os.spawnv (the command would create a marker file in the host's /tmp). CONTAINED: Emscripten has no processes: every call raises; no marker appears on the host.
# expect: ok; each~denied:
import os
import subprocess

cmd = f"id > {MARKER}-spawn"
out = []
for attempt in (lambda: subprocess.run(["/bin/sh", "-c", cmd]),
                lambda: os.popen(cmd).read(),
                lambda: os.fork(),
                lambda: os.execv("/bin/sh", ["sh", "-c", cmd]),
                lambda: os.spawnv(os.P_WAIT, "/bin/sh", ["sh", "-c", cmd])):
    try:
        out.append(f"ran: {attempt()!r}")
    except (OSError, AttributeError) as e:
        out.append(f"denied: {e!r}")
result = out
