// ATTACK: return output files named a and a/b (a file and a folder of the same name), a/./b, and b and b/ (one file written twice under two spellings): writing them one after the other raises FileExistsError or NotADirectoryError in the host, or silently overwrites one with the other. CONTAINED: the clash is refused (or the node fails cleanly): the host does not crash and no file is silently replaced.
// expect: outcome=ok|file_limit|result|protocol; refused~clash|unsafe|refused
outFiles["a"] = "file a";
outFiles["a/b"] = "file a/b";
outFiles["c/d"] = "file c/d";
outFiles["c/./d"] = "file c/./d, another spelling";
result = "written";
