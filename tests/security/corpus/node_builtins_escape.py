# ATTACK: use Deno's Node compatibility modules (node:fs, node:child_process, node:process, node:os, node:module's require) to read files, run commands, read the environment and host facts. CONTAINED: they check the same Deno permissions: NotCapable.
# expect: ok; each~NotCapable
import json

import js

J = js.eval("(async (src) => { try { return String(await (0, eval)(src)) } catch (e) { return 'denied: ' + e } })")
attempts = [
    "import('node:fs').then((m) => m.readFileSync('/etc/passwd', 'utf8'))",
    "import('node:fs').then((m) => m.readdirSync('/').join(','))",
    "import('node:child_process').then((m) => m.execSync('id').toString())",
    "import('node:process').then((m) => JSON.stringify(m.default.env))",
    "import('node:process').then((m) => m.default.loadEnvFile('/etc/passwd'))",
    "import('node:os').then((m) => m.homedir())",
    "import('node:os').then((m) => m.hostname())",
    "import('node:os').then((m) => JSON.stringify(m.userInfo()))",
    "import('node:module').then((m) => m.createRequire('file:///x.js')('fs').readFileSync('/etc/passwd', 'utf8'))",
    "import('node:process').then((m) => m.default.dlopen({}, '/lib/x86_64-linux-gnu/libc.so.6'))",
    f"import('node:fs').then((m) => m.writeFileSync({json.dumps(MARKER + '-node')}, 'x'))",
]
result = [await J(a) for a in attempts]
