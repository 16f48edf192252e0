// ATTACK: JavaScript allocates 12 x 64 MiB ArrayBuffers (filled, resident) against memory_mb=64; buffers live outside the V8 heap limit (--max-old-space-size). CONTAINED (expected): the execution fails with error_kind memory.
// expect: error_kind=memory; limits=memory_mb:64,timeout:10
const keep = [];
for (let i = 0; i < 12; i++) keep.push(new Uint8Array(64 << 20).fill(1));
result = keep.length;
