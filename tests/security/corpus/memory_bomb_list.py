# ATTACK: keep millions of small Python objects alive (a list of 1 MiB chunks and strings). CONTAINED: the WebAssembly memory cap gives MemoryError, reported as error_kind memory.
# expect: error_kind=memory; elapsed<10; limits=memory_mb:64,timeout:10
keep = []
while True:
    keep.append(bytearray(1 << 20))
    keep.append("y" * 100_000)
