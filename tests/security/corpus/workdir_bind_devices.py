# ATTACK: fill the working directory with device nodes and special files of Pyodide's virtual file system (hard links and copies of /dev/zero, /dev/urandom, /dev/tty, a FIFO via mkfifo) hoping the host reads one without end when it collects the output files. CONTAINED: only regular files are collected: the host returns ok.txt and does not hang.
# expect: ok; names=ok.txt
import os

import pyodide_js

FS = pyodide_js.FS
for name, dev in (("zero", "/dev/zero"), ("urandom", "/dev/urandom"), ("tty", "/dev/tty")):
    try:
        st = os.stat(dev)
        FS.mknod("/work/" + name, st.st_mode, st.st_rdev)
    except Exception:
        pass
try:
    os.mkfifo("fifo")
except Exception:
    pass
with open("ok.txt", "w") as f:
    f.write("ok")
result = sorted(os.listdir("."))
