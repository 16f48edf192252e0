# ATTACK: write output files whose names hold newlines, carriage returns, tabs, escape sequences, NUL (through Pyodide's FS, which allows it) and backslashes, to break the host's listings, logs, terminals or file system. CONTAINED: the host refuses every such name; only ok.txt comes back.
# expect: ok; names=ok.txt; refused~unsafe file name
import pyodide_js

for name in ["new\nline.txt", "carriage\rreturn.txt", "tab\there.txt", "esc\x1b[31mred.txt",
             "nul\x00byte.txt", "back\\slash.txt", "bell\x07.txt"]:
    pyodide_js.FS.writeFile("/work/" + name, "x")
with open("ok.txt", "w") as f:
    f.write("ok")
result = "written"
