# ATTACK: with a staged input file (data.bin, 200 KB, read from the process's stage folder), replace it with a symlink to /etc/passwd, add a symlink loop, a symlink to the working directory itself and one to the stage folder's host path, and a hard link to the input under a new name. CONTAINED: no symlink is followed or returned (each is refused by name), the hard link is a plain file of the code's, and no host file comes back.
# expect: ok; refused~symlink data.bin; refused~symlink loop; names=linked.bin,ok.txt; input=data.bin:200000
import os

import js

size = os.path.getsize("data.bin")
os.unlink("data.bin")
os.symlink("/etc/passwd", "data.bin")
os.symlink("loop", "loop")
os.symlink(".", "self")
os.symlink(str(js.Deno.cwd()), "stage")
with open("orig.bin", "wb") as f:
    f.write(b"z" * size)
try:
    os.link("orig.bin", "linked.bin")
    os.unlink("orig.bin")
except (OSError, AttributeError):  # (Pyodide has no os.link)
    os.rename("orig.bin", "linked.bin")
with open("ok.txt", "w") as f:
    f.write("ok")
result = sorted(os.listdir("."))
