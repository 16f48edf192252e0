# ATTACK: steal SSH keys from ~/.ssh and /root/.ssh, with Python's os and with Deno's file API. CONTAINED: Python sees only MEMFS (no such file); Deno has no read permission (NotCapable).
# expect: ok; each~No such file or directory|NotCapable
import os

import js

out = []
for path in (os.path.expanduser("~/.ssh/id_rsa"), "/root/.ssh/id_rsa", "/root/.ssh/id_ed25519"):
    try:
        out.append(open(path).read())
    except OSError as e:
        out.append(f"denied: {e}")
for path in ("/root/.ssh", "/home"):
    try:
        out.append(repr(list(js.Deno.readDirSync(path))))
    except Exception as e:
        out.append(f"denied: {e}")
try:
    out.append(js.Deno.readTextFileSync("/root/.ssh/id_rsa"))
except Exception as e:
    out.append(f"denied: {e}")
result = out
