// ATTACK: JavaScript imports code from the network with dynamic import() (the local test server, a public host, npm:). CONTAINED: --allow-import names no real host, --cached-only, --no-npm: refused; the server sees no connection.
// expect: ok; each~import access|cached-only|--no-npm; server=none
const out = [];
for (const u of [SERVER + "/mod.js", "https://deno.land/std@0.224.0/version.ts", "npm:left-pad@1.3.0"]) {
  try { out.push("imported: " + (await import(u)).default); } catch (e) { out.push("denied: " + e); }
}
result = out;
