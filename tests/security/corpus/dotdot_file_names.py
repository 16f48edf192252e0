# ATTACK: write output files with ".." and absolute names (../escape.txt, /work/../escape, a/b/../../inside.txt) to make flowc write outside the output folder. CONTAINED: only files inside the working directory are collected, under normalised names; nothing lands outside output_dir.
# expect: ok; names=dots..in..name,inside.txt
import os

with open("../escape.txt", "w") as f:
    f.write("outside the workdir")
with open("/work/../escape-abs.txt", "w") as f:
    f.write("outside the workdir")
os.makedirs("a/b")
with open("a/b/../../inside.txt", "w") as f:
    f.write("inside")
with open("dots..in..name", "w") as f:
    f.write("a legal name made of dots")
result = sorted(os.listdir("."))
