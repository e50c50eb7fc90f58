/* PPT Edge dashboard charts (Chart.js 4, served from the package or inlined in a report).
 * Reads the page's data from <script type="application/json" id="ppt-session"> or id="ppt-trend";
 * every text comes from there, already in the page's language. No network, no eval, no innerHTML. */
(function () {
  "use strict";
  var COLORS = ["#2f54d0", "#e8590c", "#0c9a6e", "#9c36b5", "#d49a00", "#5c6470"];
  var POS = "#12845a", NEG = "#c4321f", BAND = "rgba(18, 132, 90, 0.10)", BAND_EDGE = "rgba(18, 132, 90, 0.45)";
  var charts = {};
  window.pptCharts = charts;

  function readData(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  function clock(seconds) {
    var s = Math.max(0, Math.round(seconds)), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
  }
  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }
  function fmt(v, digits) {
    return v === null || v === undefined ? "–" : Number(v).toFixed(digits === undefined ? 1 : digits).replace(/\.0+$/, "");
  }

  /* Shades the target band (lo..hi; a missing end is the axis end) behind the data. */
  var bandPlugin = {
    id: "pptBand",
    beforeDatasetsDraw: function (chart, args, opts) {
      if (!opts || (opts.lo == null && opts.hi == null)) return;
      var y = chart.scales.y, area = chart.chartArea, ctx = chart.ctx;
      var top = opts.hi == null ? area.top : Math.max(area.top, y.getPixelForValue(opts.hi));
      var bottom = opts.lo == null ? area.bottom : Math.min(area.bottom, y.getPixelForValue(opts.lo));
      if (bottom <= top) return;
      ctx.save();
      ctx.fillStyle = BAND;
      ctx.fillRect(area.left, top, area.right - area.left, bottom - top);
      ctx.strokeStyle = BAND_EDGE;
      ctx.setLineDash([4, 4]);
      ctx.lineWidth = 1;
      [opts.lo, opts.hi].forEach(function (v) {
        if (v == null) return;
        var py = y.getPixelForValue(v);
        if (py < area.top || py > area.bottom) return;
        ctx.beginPath(); ctx.moveTo(area.left, py); ctx.lineTo(area.right, py); ctx.stroke();
      });
      ctx.restore();
    }
  };

  function tick(v) { return String(Number(Number(v).toPrecision(3))); }

  function baseOptions(xTitle) {
    return {
      responsive: true, maintainAspectRatio: false, animation: false, normalized: true,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      plugins: { legend: { display: false }, pptBand: {} },
      scales: {
        x: { type: "linear", min: 0, title: { display: !!xTitle, text: xTitle, color: "#6b7585", font: { size: 11 } },
             ticks: { callback: function (v) { return clock(v); }, color: "#6b7585", maxTicksLimit: 8 },
             grid: { color: "#eef0f3" } },
        y: { ticks: { color: "#6b7585", callback: tick }, grid: { color: "#eef0f3" } }
      }
    };
  }

  function points(x, values) {
    return x.map(function (t, i) { return { x: t, y: i < values.length ? values[i] : null }; });
  }

  function shareChart(canvasId, data, series, colorOf, yTitle) {
    var el = document.getElementById(canvasId);
    if (!el) return;
    var end = data.x.length ? data.x.length * data.bin_s : data.bin_s;
    var datasets = [];
    var dense = data.x.length > 40;
    series.forEach(function (s, i) {
      var color = colorOf(s, i);
      datasets.push({
        label: s.label, metric: s.name, data: points(data.x, s.values), borderColor: color,
        backgroundColor: alpha(color, 0.12), borderWidth: 2.2, cubicInterpolationMode: "monotone", spanGaps: false,
        pointRadius: dense ? 0 : 3, pointHoverRadius: 5, pointBackgroundColor: color
      });
      if (s.target) {
        [["lo", s.target.lo], ["hi", s.target.hi]].forEach(function (pair) {
          if (pair[1] === null || pair[1] === undefined) return;
          datasets.push({
            label: s.label + " · " + data.texts.target, metric: s.name, isTarget: pair[0],
            data: [{ x: 0, y: pair[1] }, { x: end, y: pair[1] }], borderColor: alpha(color, 0.75),
            borderDash: [6, 5], borderWidth: 1.4, pointRadius: 0, pointHoverRadius: 0, fill: false
          });
        });
      }
    });
    var options = baseOptions(data.texts.time);
    options.scales.x.max = end;
    options.scales.y.min = 0; options.scales.y.max = 100;
    options.scales.y.ticks.callback = function (v) { return v + "%"; };
    options.scales.y.ticks.stepSize = 25;
    options.scales.y.title = { display: true, text: yTitle, color: "#6b7585", font: { size: 11 } };
    options.plugins.tooltip = {
      filter: function (item) { return !item.dataset.isTarget; },
      callbacks: {
        title: function (items) { return items.length ? clock(items[0].parsed.x) : ""; },
        label: function (item) { return item.dataset.label + ": " + fmt(item.parsed.y) + "%"; }
      }
    };
    charts[canvasId] = new Chart(el, { type: "line", data: { datasets: datasets }, options: options });
  }

  /* One share metric over the session: its target band shaded, points outside the target in red. */
  function shareMini(data, s) {
    var id = "chart-s-" + s.name, el = document.getElementById(id);
    if (!el) return;
    var end = data.x.length ? data.x.length * data.bin_s : data.bin_s;
    var lo = s.target ? s.target.lo : null, hi = s.target ? s.target.hi : null;
    var judged = s.judged !== false;  /* too little data: drawn, never marked off target */
    var off = function (v) { return judged && v !== null && ((lo !== null && v < lo) || (hi !== null && v > hi)); };
    var colors = s.values.map(function (v) { return off(v) ? NEG : COLORS[0]; });
    var options = baseOptions(null);
    options.scales.x.max = end;
    options.scales.x.ticks.maxTicksLimit = 5;
    options.scales.y.min = 0; options.scales.y.max = 100;
    options.scales.y.ticks.stepSize = 50;
    options.scales.y.ticks.callback = function (v) { return v + "%"; };
    options.layout = { padding: { top: 6 } };
    options.plugins.pptBand = s.target ? { lo: lo === null ? 0 : lo, hi: hi === null ? 100 : hi } : {};
    options.plugins.tooltip = {
      callbacks: {
        title: function (items) { return items.length ? clock(items[0].parsed.x) : ""; },
        label: function (item) {
          var v = item.parsed.y;
          var verdict = !judged ? data.texts.not_judged : off(v) ? data.texts.off_target : data.texts.on_target;
          return fmt(v) + "%" + (s.target ? " · " + verdict : "");
        }
      }
    };
    charts[id] = new Chart(el, {
      type: "line",
      data: { datasets: [{
        label: s.label, metric: s.name, data: points(data.x, s.values), borderColor: COLORS[0],
        backgroundColor: alpha(COLORS[0], 0.10), borderWidth: 2, cubicInterpolationMode: "monotone", spanGaps: false, clip: 8,
        pointRadius: data.x.length > 60 ? 1.5 : 3.2, pointHoverRadius: 5,
        pointBackgroundColor: colors, pointBorderColor: colors,
        segment: { borderColor: function (ctx) { return off(ctx.p0.parsed.y) && off(ctx.p1.parsed.y) ? NEG : undefined; } }
      }] },
      options: options
    });
  }

  function continuousChart(data, c) {
    var id = "chart-c-" + c.name, el = document.getElementById(id);
    if (!el) return;
    var end = data.x.length ? data.x.length * data.bin_s : data.bin_s;
    var flat = function (v) { return [{ x: 0, y: v }, { x: end, y: v }]; };
    var datasets = [];
    if (c.p10 !== null && c.p90 !== null) {
      datasets.push({ label: "p10", role: "p10", data: flat(c.p10), borderWidth: 0, pointRadius: 0, fill: false });
      datasets.push({ label: data.texts.band, role: "p90", data: flat(c.p90), borderWidth: 0, pointRadius: 0,
                      backgroundColor: "rgba(47, 84, 208, 0.13)", fill: "-1" });
    }
    if (c.p50 !== null) {
      datasets.push({ label: data.texts.median, role: "p50", data: flat(c.p50), borderColor: "rgba(47, 84, 208, 0.7)",
                      borderDash: [5, 4], borderWidth: 1.3, pointRadius: 0 });
    }
    datasets.push({ label: data.texts.per_bin, role: "bins", data: points(data.x, c.values), borderColor: "#1b2230",
                    borderWidth: 1.8, cubicInterpolationMode: "monotone", spanGaps: false, pointRadius: data.x.length > 40 ? 0 : 2.5,
                    pointBackgroundColor: "#1b2230" });
    var known = c.values.filter(function (v) { return v !== null; }).concat([c.p10, c.p90].filter(function (v) { return v !== null; }));
    var options = baseOptions(null);
    options.scales.x.max = end;
    options.scales.x.ticks.maxTicksLimit = 5;
    if (known.length) {  /* room around the band, so that the band reads as a band */
      var lo = Math.min.apply(null, known), hi = Math.max.apply(null, known), pad = (hi - lo) * 0.35 || Math.abs(hi) * 0.2 || 1;
      options.scales.y.suggestedMin = lo >= 0 ? Math.max(0, lo - pad) : lo - pad;
      options.scales.y.suggestedMax = hi + pad;
      options.scales.y.ticks.maxTicksLimit = 5;
    }
    options.plugins.tooltip = {
      filter: function (item) { return item.dataset.role === "bins" || item.dataIndex === 0; },
      callbacks: {
        title: function (items) { return items.length ? clock(items[0].parsed.x) : ""; },
        label: function (item) { return item.dataset.label + ": " + fmt(item.parsed.y, 2); }
      }
    };
    charts[id] = new Chart(el, { type: "line", data: { datasets: datasets }, options: options });
  }

  function drawSession(data) {
    data.groups.forEach(function (g) { g.series.forEach(function (s) { shareMini(data, s); }); });
    if (data.emotion.length) {
      shareChart("chart-emotion", data, data.emotion, function (s) { return s.name === "emotion_positive" ? POS : NEG; },
                 data.texts.faces_axis);
    }
    data.continuous.forEach(function (c) { continuousChart(data, c); });
  }

  function drawTrend(data) {
    var labels = data.labels.map(function (d, i) { return "#" + (i + 1) + " " + d; });
    data.charts.forEach(function (c) {
      var id = "chart-t-" + c.name, el = document.getElementById(id);
      if (!el) return;
      var options = {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: false }, pptBand: c.band || {},
                   tooltip: { callbacks: { label: function (item) {
                     return fmt(item.parsed.y, c.digits) + (c.percent ? "%" : ""); } } } },
        scales: {
          x: { ticks: { color: "#6b7585", maxRotation: 0, autoSkip: true, maxTicksLimit: 6 }, grid: { display: false } },
          y: { ticks: { color: "#6b7585", maxTicksLimit: 6,
                        callback: function (v) { return c.percent ? v + "%" : String(Number(v.toPrecision(3))); } },
               grid: { color: "#eef0f3" } }
        }
      };
      if (c.percent) { options.scales.y.min = 0; options.scales.y.max = 100; options.scales.y.ticks.stepSize = 25; }
      var color = COLORS[0];
      /* a session that did not judge the measure has no point; the line across it is dashed and pale */
      var across = function (ctx, value) { return ctx.p0.skip || ctx.p1.skip ? value : undefined; };
      charts[id] = new Chart(el, {
        type: "line",
        data: { labels: labels, datasets: [{ label: c.label, metric: c.name, data: c.values, borderColor: color,
                backgroundColor: alpha(color, 0.15), borderWidth: 2.2, cubicInterpolationMode: "monotone", spanGaps: true,
                segment: { borderDash: function (ctx) { return across(ctx, [5, 5]); },
                           borderColor: function (ctx) { return across(ctx, alpha(color, 0.45)); } },
                pointRadius: c.values.length > 40 ? 0 : 3.5, pointBackgroundColor: color }] },
        options: options
      });
    });
  }

  function start() {
    if (typeof Chart === "undefined") return;
    Chart.register(bandPlugin);
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.font.size = 12;
    var session = readData("ppt-session");
    if (session) drawSession(session);
    var trend = readData("ppt-trend");
    if (trend) drawTrend(trend);
    document.documentElement.setAttribute("data-charts", String(Object.keys(charts).length));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
