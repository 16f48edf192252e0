# ATTACK: plant state for the next execution: a file in the virtual FS, a JS global, patched builtins, a poisoned module and prototype. CONTAINED: strict isolation gives every execution a fresh process; the final test checks that none of it is visible.
# expect: ok; value="planted"
import builtins
import json

import js

with open("/tmp/flowc-persist", "w") as f:
    f.write("planted")
js.eval("globalThis.flowcPersist = 1; Object.prototype.flowcPersist = 1;")
builtins.flowc_persist = True
builtins.sum = lambda *a, **k: -1
json.dumps = lambda *a, **k: '"poisoned"'
result = "planted"
