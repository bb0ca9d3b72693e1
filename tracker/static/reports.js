// The report page and the dashboard: charts from a JSON script tag, clickable rows.
// No inline scripts (CSP): the data sits in <script type="application/json"> tags.
"use strict";

(() => {
  const COLORS = {
    visits: "#1f6feb", conversions: "#8250df", revenue: "#137333", cost: "#b3261e", profit: "#c77c02",
  };
  const LABELS = { visits: "Visits", conversions: "Conversions", revenue: "Revenue", cost: "Cost", profit: "Profit" };

  function renderChart(element) {
    const source = document.getElementById(element.dataset.chartSource);
    if (!source || !window.Plotly) return;
    const data = JSON.parse(source.textContent);
    const counts = ["visits", "conversions"];
    const traces = Object.keys(LABELS).map((name) => ({
      x: data.labels,
      y: data.series[name],
      name: LABELS[name],
      type: counts.includes(name) ? "bar" : "scatter",
      mode: "lines+markers",
      yaxis: counts.includes(name) ? "y" : "y2",
      marker: { color: COLORS[name] },
      line: { color: COLORS[name], width: 2 },
      opacity: counts.includes(name) ? 0.55 : 1,
    }));
    const layout = {
      barmode: "group",
      height: 280,
      margin: { l: 50, r: 60, t: 10, b: 40 },
      legend: { orientation: "h", y: -0.2 },
      xaxis: { type: "category", automargin: true },
      yaxis: { title: { text: "count" }, rangemode: "tozero" },
      yaxis2: { title: { text: "money" }, overlaying: "y", side: "right", zeroline: true },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
    };
    window.Plotly.newPlot(element, traces, layout, { displayModeBar: false, responsive: true })
      .then(() => element.setAttribute("data-rendered", "1"));
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-chart-source]").forEach(renderChart);

    // A row with data-href drills down when clicked anywhere (its first cell is a real link).
    document.querySelectorAll("tr[data-href]").forEach((row) => {
      row.addEventListener("click", (event) => {
        if (event.target.closest("a, button, input")) return;
        window.location.assign(row.dataset.href);
      });
    });
  });
})();
