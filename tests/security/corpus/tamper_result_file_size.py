# ATTACK: patch TextEncoder.prototype.encode so that the host's own result message is rewritten on the way out, adding an 8 KiB file against a 1 KiB per-file limit. CONTAINED (expected): the host builds its messages with intrinsics captured before any code runs, so the patch never sees them: the genuine result, no file (and flowc re-checks every size as file chunks arrive: PROTOCOL.md).
# expect: ok; value="tampered"; names=; limits=max_file_bytes:1024
import js

js.eval("""(() => {
  const orig = TextEncoder.prototype.encode;
  TextEncoder.prototype.encode = function (s) {
    if (typeof s === "string" && s.includes('"type":"result"')) {
      const sp = s.indexOf(" ");  // the host's lines are "NONCE {json}"
      const m = JSON.parse(s.slice(sp + 1));
      m.files = [{name: "big.bin", data: btoa("A".repeat(8192))}];
      m.file_problems = [];
      s = s.slice(0, sp + 1) + JSON.stringify(m) + "\\n";
    }
    return orig.call(this, s);
  };
})()""")
result = "tampered"
