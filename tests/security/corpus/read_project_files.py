# ATTACK: read flowc's own source tree (pyproject.toml, the sandbox's process.py) and list it with os. CONTAINED: the host tree is not in the virtual FS; every attempt fails.
# expect: ok; each~No such file or directory
import os

out = []
for path in (PROJECT_ROOT + "/pyproject.toml", PROJECT_ROOT + "/runtime/sandbox/process.py"):
    try:
        out.append(open(path).read())
    except OSError as e:
        out.append(f"denied: {e}")
try:
    out.append(repr(os.listdir(PROJECT_ROOT)))
except OSError as e:
    out.append(f"denied: {e}")
result = out
