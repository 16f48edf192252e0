// The review page: shows, as the reviewer types, which values differ from the prefill (the
// server checks and records the same diff again).
"use strict";
(function () {
  const form = document.querySelector("[data-testid=decide-form]");
  const out = document.querySelector("[data-testid=diff]");
  if (!form || !out) return;
  function current(el) {
    if (el.type === "checkbox") return el.checked ? "true" : "false";
    return el.value;
  }
  function update() {
    out.textContent = "";
    const changed = [];
    form.querySelectorAll("[data-prefill]").forEach(function (el) {
      const now = current(el), before = el.getAttribute("data-prefill");
      if (now !== before) changed.push([el.name.replace(/^f\./, ""), before, now]);
    });
    if (!changed.length) return;
    const title = document.createElement("b");
    title.textContent = "Changed from the proposal:";
    out.appendChild(title);
    const list = document.createElement("ul");
    changed.forEach(function (c) {
      const li = document.createElement("li");
      li.textContent = c[0] + ": " + c[1] + " \u2192 " + c[2];
      list.appendChild(li);
    });
    out.appendChild(list);
  }
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
})();
