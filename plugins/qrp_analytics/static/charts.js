// Draws every <canvas data-chart='…'> with Chart.js (vendored), on load and after htmx swaps.
// The spec comes from the server (views.py): {type, labels, datasets: [{label, data, color,
// dashed?, band?}], stacked?, yTitle?}. Types: line, bar, ranked (horizontal bars), forecast.
(function () {
  "use strict";

  const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

  function dataset(spec, ds, index, all) {
    const base = {
      label: ds.label,
      data: ds.data,
      borderColor: ds.color,
      backgroundColor: ds.color,
      borderWidth: 2,
      pointRadius: spec.labels.length > 60 ? 0 : 2,
      tension: 0.25,
    };
    if (ds.dashed) base.borderDash = [6, 4];
    if (spec.type === "forecast" && ds.band) {
      // The interval: "low" draws nothing, "high" fills down to it.
      base.borderWidth = 0;
      base.pointRadius = 0;
      if (ds.band === "high") base.fill = all.findIndex((d) => d.band === "low");
      else base.fill = false;
    }
    return base;
  }

  function build(canvas) {
    if (canvas.dataset.drawn) return;
    let spec;
    try {
      spec = JSON.parse(canvas.dataset.chart);
    } catch (error) {
      console.warn("chart spec unreadable", error);
      return;
    }
    const ranked = spec.type === "ranked";
    const type = ranked || spec.type === "bar" ? "bar" : "line";
    const stacked = Boolean(spec.stacked);
    const valueAxis = {
      beginAtZero: true,
      stacked,
      // Whole scans only: a day with one scan is not drawn against 0.5 and 1.5.
      ticks: { precision: 0, callback: (value) => number.format(value) },
      title: spec.yTitle ? { display: true, text: spec.yTitle } : undefined,
    };
    const labelAxis = { stacked, ticks: { autoSkip: true, maxRotation: 0 } };
    const chart = new window.Chart(canvas, {
      type,
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map((ds, i, all) => dataset(spec, ds, i, all)),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        indexAxis: ranked ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        scales: ranked ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
        plugins: {
          legend: {
            display: spec.datasets.length > 1,
            labels: { filter: (item) => !spec.datasets[item.datasetIndex].band ||
                                        spec.datasets[item.datasetIndex].band === "high" },
          },
          tooltip: {
            callbacks: {
              label: (ctx) => `${ctx.dataset.label}: ${number.format(ctx.parsed[ranked ? "x" : "y"])}`,
            },
          },
        },
      },
    });
    canvas.dataset.drawn = "1";
    canvas.chart = chart;
  }

  // Axis labels, ticks and legends in the page's own text colours (light or dark mode), so
  // they keep the 4.5:1 contrast of the rest of the page.
  function themeCharts() {
    const style = getComputedStyle(document.documentElement);
    const muted = style.getPropertyValue("--c-text-muted").trim();
    const border = style.getPropertyValue("--c-border").trim();
    if (muted) window.Chart.defaults.color = muted;
    if (border) window.Chart.defaults.borderColor = border;
  }

  function drawAll(root) {
    if (!window.Chart) return;
    themeCharts();
    (root || document).querySelectorAll("canvas[data-chart]").forEach(build);
  }

  document.addEventListener("DOMContentLoaded", () => drawAll(document));
  // Choosing a preset range forgets the custom dates (they would win on the server); typing
  // custom dates shows "Custom dates" as the range. Capture phase: before the form submits.
  document.addEventListener("change", (event) => {
    const el = event.target;
    const form = el.closest && el.closest(".analytics-filters");
    if (!form) return;
    if (el.matches("[data-range-preset]")) {
      form.querySelectorAll("input[type=date]").forEach((input) => { input.value = ""; });
    } else if (el.matches("input[type=date]")) {
      const custom = form.querySelector("[data-range-custom]");
      if (custom) custom.selected = true;
    }
  }, true);
  document.addEventListener("htmx:afterSettle", (event) => drawAll(event.target));
})();
