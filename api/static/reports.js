/* The report pages: each chart drawn by Chart.js from the JSON spec beside its canvas (warehouse/reports.py
   Chart.spec), and sortable tables. Charts are kept in window.reportCharts by canvas id. */
(function () {
  "use strict";
  var PALETTE = ["#1f5fa8", "#e07b24", "#2e8b57", "#c0392b", "#8e5cb5", "#7f8c8d", "#c9a227", "#17a2b8"];
  var DAY = /^\d{4}-\d{2}-\d{2}$/;

  function number(value) {
    return Number(value).toLocaleString("en-US", {maximumFractionDigits: 2});
  }

  function percent(value) {
    return number(value) + " %";
  }

  function draw(node) {
    var spec = JSON.parse(node.textContent);
    var canvas = document.getElementById(node.dataset.canvas);
    var left = spec.series.some(function (s) { return !s.percent; });
    var right = left && spec.series.some(function (s) { return s.percent; });
    var datasets = spec.series.map(function (s, index) {
      var color = PALETTE[index % PALETTE.length];
      var line = s.kind === "line";
      return {
        label: s.percent ? s.label + " (%)" : s.label, data: s.values, type: s.kind,
        yAxisID: s.percent && right ? "percent" : "y", borderColor: color,
        backgroundColor: line ? color : color + "cc", borderWidth: line ? 2 : 0, pointRadius: line ? 2 : 0,
        pointHoverRadius: 4, tension: 0.2, spanGaps: true, order: line ? 0 : 1,
      };
    });
    var scales = {
      x: {stacked: spec.stacked, ticks: {maxRotation: 0, autoSkipPadding: 12, callback: function (value) {
        var label = this.getLabelForValue(value);
        return DAY.test(label) ? label.slice(5) : label;  // MM-DD: the year is in the filters
      }}},
      y: {stacked: spec.stacked, beginAtZero: true, ticks: {callback: left ? number : percent},
          title: {display: !!spec.unit || !left, text: left ? spec.unit : "%"}},
    };
    if (right) {
      scales.percent = {position: "right", beginAtZero: true, grid: {drawOnChartArea: false},
                        ticks: {callback: percent}, title: {display: true, text: "%"}};
    }
    window.reportCharts[canvas.id] = new Chart(canvas, {
      type: spec.kind,
      data: {labels: spec.labels, datasets: datasets},
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: {mode: "index", intersect: false},
        plugins: {
          title: {display: true, text: spec.title, font: {size: 14}},
          legend: {position: "bottom"},
          tooltip: {callbacks: {label: function (context) {
            var s = spec.series[context.datasetIndex];
            var unit = s.percent ? " %" : (spec.unit ? " " + spec.unit : "");
            return s.label + ": " + number(context.parsed.y) + unit;
          }}},
        },
        scales: scales,
      },
    });
  }

  function cellValue(row, index) {
    var text = row.cells[index] ? row.cells[index].textContent.trim() : "";
    var value = Number(text.replace(/,/g, ""));
    return text !== "" && !isNaN(value) ? value : text.toLowerCase();
  }

  function sortBy(table, heading, index) {
    var ascending = heading.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("thead th").forEach(function (th) { th.setAttribute("aria-sort", "none"); });
    heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.filter.call(body.rows, function (row) { return !row.classList.contains("empty"); });
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      var order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function sortable(table) {
    table.querySelectorAll("thead th").forEach(function (heading, index) {
      heading.tabIndex = 0;
      heading.setAttribute("aria-sort", "none");
      heading.title = "Sort by " + heading.textContent;
      heading.addEventListener("click", function () { sortBy(table, heading, index); });
      heading.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, heading, index); }
      });
    });
  }

  window.reportCharts = {};
  document.querySelectorAll("table.sortable").forEach(sortable);
  if (window.Chart) {
    document.querySelectorAll("script.chart-spec").forEach(draw);
  }
})();
