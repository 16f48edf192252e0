// ATTACK: JavaScript stores the TOKEN in localStorage, sessionStorage and the Cache API, which Deno keeps under its own folder (DENO_DIR) whatever --deny-write says, for a later run or another process to read back. CONTAINED (expected): nothing of the run persists: a JavaScript run started after it reads nothing back, and the TOKEN is in no file on disk.
// expect: ok; followup=followups/js_read_web_storage.js; trace=none
const out = [];
try { localStorage.setItem("flowc", TOKEN); out.push("localStorage: set"); } catch (e) { out.push("localStorage: " + e); }
try { sessionStorage.setItem("flowc", TOKEN); out.push("sessionStorage: set"); } catch (e) { out.push("sessionStorage: " + e); }
try {
  const c = await caches.open("flowc");
  await c.put(new Request("http://flowc.invalid/planted"), new Response(TOKEN));
  out.push("caches: put");
} catch (e) { out.push("caches: " + e); }
result = out;
