# ATTACK: allocate JavaScript buffers through the FFI (js.Uint8Array.new, filled so they are resident), which live outside the WebAssembly memory cap and the V8 heap limit. CONTAINED: flowc's outside RSS watch SIGKILLs the process past memory_mb + slack.
# expect: error_kind=memory; error~memory limit; elapsed<10; limits=memory_mb:64,timeout:10
import js

keep = []
for _ in range(64):  # up to 4 GiB
    a = js.Uint8Array.new(64 << 20)
    a.fill(1)
    keep.append(a)
result = len(keep)
