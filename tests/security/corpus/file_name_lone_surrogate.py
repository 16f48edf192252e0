# ATTACK: write output files whose names hold lone surrogates, through Pyodide's FS (a JS string name) and through Python (surrogateescape bytes): no host file system can take such a name, so writing it raises in the host. CONTAINED: the host refuses those names ("unsafe file name ... not returned"); the valid file comes back.
# expect: ok; names=ok.txt; refused~unsafe file name
import os

import pyodide_js

pyodide_js.FS.writeFile("/work/lone-\ud800.txt", "x")
pyodide_js.FS.writeFile("/work/lone-\udfff-b.txt", "y")
with open(os.fsdecode(b"bad-\xff\xfe.txt"), "w") as f:
    f.write("z")
with open("ok.txt", "w") as f:
    f.write("ok")
result = sorted(os.listdir("."))
