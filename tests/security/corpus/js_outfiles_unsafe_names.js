// ATTACK: return output files whose names hold a lone surrogate, a newline, an escape sequence, NUL and 300 characters: each would break the host's file system calls, logs or terminal. CONTAINED: those names are refused (or the node fails with a clear "result" error); nothing is written under them and the host does not crash.
// expect: outcome=ok|result; value!~\ud800
outFiles["lone\ud800.txt"] = "x";
outFiles["new\nline.txt"] = "x";
outFiles["esc\x1b[2J.txt"] = "x";
outFiles["nul\x00.txt"] = "x";
outFiles["n".repeat(300)] = "x";
outFiles["ok.txt"] = "ok";
result = "written";
