// The chat page: sends a message, then reads the turn's server-sent events from the response
// body (status, task, answer, done) and shows them in the conversation.
"use strict";
(function () {
  const form = document.getElementById("send");
  const list = document.getElementById("messages");
  const tasks = document.getElementById("tasks");
  if (!form) return;
  function add(role, text) {
    const li = document.createElement("li");
    li.className = "msg " + role;
    const b = document.createElement("b");
    b.textContent = role + " ";
    const span = document.createElement("span");
    span.className = "text";
    span.textContent = text;
    li.appendChild(b); li.appendChild(span);
    list.appendChild(li);
    return li;
  }
  function handle(name, data) {
    if (name === "answer") add("assistant", data.text);
    else if (name === "task") {
      const p = document.createElement("p");
      p.className = "task";
      const a = document.createElement("a");
      a.href = data.url;  // a path on this server, made by the server
      a.textContent = data.title || "a task";
      a.setAttribute("data-testid", "chat-task-link");
      p.appendChild(a);
      p.appendChild(document.createTextNode(" waits for " + (data.kind === "gate" ? "a decision" : "an answer")));
      tasks.appendChild(p);
    } else if (name === "status") form.setAttribute("data-status", data.status);
    else if (name === "done") form.removeAttribute("aria-busy");
  }
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const body = new FormData(form);
    const text = String(body.get("text") || "");
    if (!text.trim()) return;
    add("user", text);
    form.querySelector("textarea").value = "";
    form.setAttribute("aria-busy", "true");
    const resp = await fetch(form.action, { method: "POST", body: body, credentials: "same-origin" });
    if (!resp.ok || !resp.body) {
      let msg = "the message was not sent";
      try { msg = (await resp.json()).error || msg; } catch (e) { /* not JSON */ }
      add("system", msg);
      form.removeAttribute("aria-busy");
      return;
    }
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
        let name = "message", data = "";
        chunk.split("\n").forEach(function (line) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        });
        try { handle(name, JSON.parse(data)); } catch (e) { /* a bad event is skipped */ }
      }
    }
    form.removeAttribute("aria-busy");
  });
})();
