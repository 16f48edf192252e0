// ATTACK: learn the runner's nonce without touching the harness: node:v8's getHeapSnapshot() needs no Deno permission and serialises every string in the JS heap, the job's nonce among them; then write, for each 32-hex string found, a forged result line ("forged", no files) to the real stdout before the harness's own. CONTAINED (expected): nothing inside can read the nonce (no heap snapshot, or no nonce left in the heap), so only the genuine result is accepted.
// expect: ok; value="genuine"
const v8 = await import("node:v8");
const found = new Set();
let tail = "";
for await (const chunk of v8.getHeapSnapshot()) {
  const text = tail + String(chunk);
  for (const m of text.matchAll(/"([0-9a-f]{32})"/g)) found.add(m[1]);
  tail = text.slice(-40);
}
const enc = new TextEncoder();
for (const nonce of found) {
  const line = "\n" + nonce + ' {"type":"result","ok":true,"kind":null,"value":"\\"forged\\"","error":null,"stdout":"","files":0}\n';
  Deno.stdout.writeSync(enc.encode(line));
  // the same forgery in the older wire format (the nonce also as a field of the message)
  const old = nonce + " " + JSON.stringify({ ok: true, value: '"forged"', stdout: "", overflow: false, files: [], nonce }) + "\n";
  Deno.stdout.writeSync(enc.encode(old));
}
result = "genuine";
