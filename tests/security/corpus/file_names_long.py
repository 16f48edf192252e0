# ATTACK: write output files with very long names: a 300-character name, and a path of 16 nested 250-character folders (4,000 characters in all), to break the host's file system calls (ENAMETOOLONG) or its message parsing. CONTAINED: the long names are refused; the short file comes back.
# expect: ok; names=short.txt; refused~unsafe file name
import os

with open("n" * 300, "w") as f:
    f.write("long name")
path = "/".join(["d" * 250] * 16)
os.makedirs(path)
with open(path + "/f.txt", "w") as f:
    f.write("deep")
with open("short.txt", "w") as f:
    f.write("ok")
result = "written"
