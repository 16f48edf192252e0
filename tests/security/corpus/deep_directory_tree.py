# ATTACK: a directory tree 20,000 levels deep (one-letter names, a 40,000-character path) with a file at the bottom, made in linear time through MEMFS's node operations, to overflow the host's recursive walk of the working directory (a JS stack overflow) or make it quadratic. CONTAINED: the host survives: the node succeeds (the deep file refused) or fails with a clear error or its timeout; the process is gone after the call.
# expect: outcome=ok|exception|file_limit|timeout; limits=timeout:20
import time

import pyodide_js

from js import eval as js_eval

t = time.time()
depth = js_eval("""(FS) => {
  let node = FS.lookupPath("/work").node;
  for (let i = 0; i < 20000; i++) node = node.node_ops.mknod(node, "d", 0o40777, 0);
  const f = node.node_ops.mknod(node, "bottom.txt", 0o100666, 0);
  f.contents = new Uint8Array([100, 101, 101, 112]); f.usedBytes = 4;
  let n = 0; for (let p = f.parent; p !== p.parent && p.name !== "work"; p = p.parent) n++;
  return n;
}""")(pyodide_js.FS)
with open("top.txt", "w") as f:
    f.write("top")
result = [depth, round(time.time() - t, 2)]
