// ATTACK: (follow-up, a later JavaScript run) read back what an earlier run stored in localStorage, sessionStorage and the Cache API. CONTAINED: nothing of the earlier run is there.
// expect: ok; value!~flowc-token-
const out = [];
try { out.push("localStorage: " + localStorage.getItem("flowc") + " " + localStorage.length); } catch (e) { out.push("localStorage: " + e); }
try { out.push("sessionStorage: " + sessionStorage.getItem("flowc")); } catch (e) { out.push("sessionStorage: " + e); }
try {
  const c = await caches.open("flowc");
  const r = await c.match(new Request("http://flowc.invalid/planted"));
  out.push("caches: " + (r ? await r.text() : "nothing"));
} catch (e) { out.push("caches: " + e); }
result = out;
