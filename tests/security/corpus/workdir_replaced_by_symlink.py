# ATTACK: replace the working directory /work with a symlink to / (so that the host, collecting "the working directory's files", walks the whole virtual file system: the Python standard library, /proc, /dev), and leave /dev/zero and /dev/urandom links there. CONTAINED: the host does not follow the link out of the working directory: no file but the code's own comes back (nothing, here), and the host does not hang on devices.
# expect: outcome=ok|file_limit; names=
import os

os.chdir("/")
os.rename("/work", "/work-moved")
os.symlink("/", "/work")
os.symlink("/dev/zero", "/work-moved/zero")
result = os.path.realpath("/work")
