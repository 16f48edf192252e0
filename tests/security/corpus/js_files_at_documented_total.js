// ATTACK: none beyond the limits: return five output files of 19 MiB (95 MiB, under the documented 100 MiB total and 20 MiB per file), which a runner that builds one message or one base64 string of all the files cannot carry. CONTAINED: every documented limit is reachable: the five files come back whole.
// expect: ok; names=f0.bin,f1.bin,f2.bin,f3.bin,f4.bin; host_mem<600; limits=timeout:60
for (let i = 0; i < 5; i++) outFiles[`f${i}.bin`] = new Uint8Array(19 << 20).fill(65 + i);
result = "written";
