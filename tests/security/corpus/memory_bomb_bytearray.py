# ATTACK: grow a bytearray without end. CONTAINED: the WebAssembly memory is capped (--wasm-max-mem-pages, 64 MiB here): Python raises MemoryError, reported as error_kind memory.
# expect: error_kind=memory; elapsed<10; limits=memory_mb:64,timeout:10
b = bytearray()
while True:
    b += b"x" * (1 << 20)
