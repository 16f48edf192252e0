# ATTACK: leave symlinks in the working directory (to /etc/passwd, to /, to ..) so that collecting the output files copies host files or writes outside the output folder. CONTAINED: the host refuses symlinks ("symlink ... not returned"); only the regular file comes back.
# expect: ok; refused~symlink passwd not returned; names=ok.txt
import os

os.symlink("/etc/passwd", "passwd")
os.symlink("/", "root")
os.symlink("..", "up")
with open("ok.txt", "w") as f:
    f.write("a regular file")
result = sorted(os.listdir("."))
