# ATTACK: a file at the end of a path of 40 nested 250-character folders (10,000 characters, past any file system's PATH_MAX and the host's message bound for a name), beside a normal file. CONTAINED: the host does not crash: the long name is refused or the node fails with a clear file_limit error.
# expect: outcome=ok|file_limit
import os

path = "/".join(["e" * 250] * 40)
os.makedirs(path)
with open(path + "/f.txt", "w") as f:
    f.write("deep")
with open("short.txt", "w") as f:
    f.write("ok")
result = "written"
