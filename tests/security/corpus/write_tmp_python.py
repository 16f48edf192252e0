# ATTACK: write a file into /tmp (and /etc) with Python's open(), hoping it lands on the host. CONTAINED: the write goes to Pyodide's in-memory FS only; nothing appears in the host's /tmp.
# expect: ok; value~flowc-sec-
import os

with open(MARKER + "-python", "w") as f:
    f.write("escaped?")
os.makedirs("/etc", exist_ok=True)
with open("/etc/flowc-sec-written", "w") as f:
    f.write("escaped?")
result = sorted(os.listdir("/tmp"))
