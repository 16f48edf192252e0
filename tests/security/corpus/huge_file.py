# ATTACK: write a 3 MiB output file against a 1 MiB per-file limit. CONTAINED: the host does not return it (file-size problem); the execution fails with file_limit and no oversized file is written.
# expect: error_kind=file_limit; refused~file-size:big.bin; limits=max_file_bytes:1048576
with open("big.bin", "wb") as f:
    f.write(b"x" * (3 << 20))
result = "written"
