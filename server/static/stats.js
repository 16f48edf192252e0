// The stats page's charts (Chart.js, vendored): a latency histogram per node (stacked by
// bucket) and the cost per model, from the JSON the server put in the page.
"use strict";
(function () {
  const el = document.getElementById("stats-data");
  if (!el || typeof Chart === "undefined") return;
  const data = JSON.parse(el.textContent);
  const nodes = data.nodes;
  const lat = document.getElementById("latency");
  if (lat && nodes.length) {
    const datasets = data.buckets.map(function (label, i) {
      return { label: label, data: nodes.map(function (n) { return n.histogram[i]; }) };
    });
    window.flowcLatencyChart = new Chart(lat, {
      type: "bar",
      data: { labels: nodes.map(function (n) { return n.node; }), datasets: datasets },
      options: { animation: false, scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: "runs" } } } },
    });
  }
  const cost = document.getElementById("cost");
  if (cost && data.models.length) {
    window.flowcCostChart = new Chart(cost, {
      type: "bar",
      data: { labels: data.models.map(function (m) { return m.model; }),
              datasets: [{ label: "cost (USD)", data: data.models.map(function (m) { return m.cost; }) }] },
      options: { animation: false, indexAxis: "y" },
    });
  }
})();
