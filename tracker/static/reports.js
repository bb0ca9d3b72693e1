// The report page and the dashboard: charts from a JSON script tag, clickable rows.
// No inline scripts (CSP): the data sits in <script type="application/json"> tags.
"use strict";

(() => {
  const COLORS = {
    visits: "#1f6feb", conversions: "#8250df", revenue: "#137333", cost: "#b3261e", profit: "#c77c02",
  };
  const LABELS = { visits: "Visits", conversions: "Conversions", revenue: "Revenue", cost: "Cost", profit: "Profit" };

  // A round step that cuts `span` into about `count` parts (1, 2 or 5 times a power of ten).
  function niceStep(span, count) {
    const raw = span / count;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const norm = raw / magnitude;
    return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * magnitude;
  }

  // Ranges for the count axis (left) and the money axis (right) whose zeros sit on one line:
  // with a loss, money goes below zero, so the count axis gets the same share below zero,
  // unlabelled (counts are never negative). Losses take at most half the height.
  function alignedAxes(series) {
    const counts = [...series.visits, ...series.conversions];
    const money = [...series.revenue, ...series.cost, ...series.profit];
    const top = Math.max(1, ...counts) * 1.08;
    let high = Math.max(0, ...money);
    const low = Math.min(0, ...money);
    if (high === 0 && low === 0) high = 1;
    if (-low > high) high = -low;
    const below = -low / (high - low);
    const countStep = niceStep(top, 4);
    const countTicks = [];
    for (let tick = 0; tick <= top; tick += countStep) countTicks.push(tick);
    return {
      count: { range: [(-top * below) / (1 - below), top], tickmode: "array", tickvals: countTicks },
      money: { range: [low * 1.08, high * 1.08], tickmode: "auto", nticks: 6 },
    };
  }

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
    const axes = alignedAxes(data.series);
    const narrow = element.clientWidth < 560;
    const layout = {
      barmode: "group",
      height: narrow ? 240 : 280,
      margin: narrow ? { l: 36, r: 44, t: 10, b: 30 } : { l: 50, r: 60, t: 10, b: 40 },
      legend: { orientation: "h", y: -0.25 },
      xaxis: { type: "category", automargin: true, nticks: narrow ? 5 : 0 },
      yaxis: { title: { text: narrow ? "" : "count" }, zeroline: true, ...axes.count },
      yaxis2: {
        title: { text: narrow ? "" : `money (${element.dataset.currency || "account currency"})` },
        overlaying: "y",
        side: "right",
        zeroline: true,
        zerolinecolor: "#444",
        showgrid: false,
        ...axes.money,
      },
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
