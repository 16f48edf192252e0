// ATTACK: JavaScript returns 5 files of 1000 bytes (each under max_file_bytes=1000) against max_total_file_bytes=2000. CONTAINED (expected): file_limit, as for Python.
// expect: error_kind=file_limit; limits=max_file_bytes:1000,max_total_file_bytes:2000,max_files:10
for (let i = 0; i < 5; i++) outFiles[`f${i}.bin`] = new Uint8Array(1000).fill(65);
result = 5;
