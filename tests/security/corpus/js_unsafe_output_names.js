// ATTACK: JavaScript returns output files named ../escape.txt, an absolute host path, a/../../up.txt. CONTAINED: flowc sanitises names: unsafe ones are refused, only ok.txt is written, nothing lands outside output_dir.
// expect: ok; refused~leaves the working directory; refused~absolute file name; names=ok.txt
outFiles["../escape.txt"] = "escaped";
outFiles[MARKER + "-jsout"] = "escaped";
outFiles["a/../../up.txt"] = "escaped";
outFiles["ok.txt"] = "fine";
result = Object.keys(outFiles).length;
