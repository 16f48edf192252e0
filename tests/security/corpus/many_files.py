# ATTACK: write 200 output files (in nested directories too) against a limit of 10. CONTAINED: the host stops at the limit; the execution fails with file_limit and at most 10 files are written.
# expect: error_kind=file_limit; refused~file-count; limits=max_files:10
import os

for i in range(200):
    d = f"d{i % 7}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/f{i}.txt", "w") as f:
        f.write(str(i))
result = "written"
