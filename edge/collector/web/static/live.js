/* PPT Edge live view: follows /live/<device>/events (server-sent events) and writes what arrives into
 * the page with textContent only: device texts (labels, ids) can never become markup. */
(function () {
  "use strict";
  var root = document.getElementById("live");
  var cfg = JSON.parse(document.getElementById("ppt-live").textContent);
  var T = cfg.texts;
  var WINDOW_S = 120, SHARE_S = 10, STALE_MS = 6000;
  var recent = [];  // {t: ms, facing, gesturing}
  var lastLiveAt = 0;
  var chart = null;
  var state = { events: 0, live: 0 };
  window.pptLive = state;

  function $(id) { return document.getElementById(id); }
  function setText(id, text) { var el = $(id); if (el) el.textContent = text; }
  function clock(seconds) {
    var s = Math.max(0, Math.round(seconds || 0)), m = Math.floor(s / 60), r = s % 60;
    return m + ":" + String(r).padStart(2, "0");
  }
  function yesNo(v) { return v === true ? T.yes : v === false ? T.no : T.unknown; }

  function setupChart() {
    var el = $("chart-live");
    if (!el || typeof Chart === "undefined") return;
    chart = new Chart(el, {
      type: "line",
      data: { datasets: [
        { label: T.facing, data: [], borderColor: "#2f54d0", backgroundColor: "rgba(47,84,208,.12)", borderWidth: 2, pointRadius: 0, cubicInterpolationMode: "monotone" },
        { label: T.gesturing, data: [], borderColor: "#e8590c", backgroundColor: "rgba(232,89,12,.12)", borderWidth: 2, pointRadius: 0, cubicInterpolationMode: "monotone" }
      ] },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: true, position: "bottom", labels: { boxWidth: 12 } } },
        scales: {
          x: { type: "linear", min: 0, max: WINDOW_S, ticks: { callback: function (v) { return clock(v); }, maxTicksLimit: 6, color: "#6b7585" }, grid: { color: "#eef0f3" } },
          y: { min: 0, max: 100, ticks: { stepSize: 25, callback: function (v) { return v + "%"; }, color: "#6b7585" }, grid: { color: "#eef0f3" } }
        }
      }
    });
    window.pptCharts = { "chart-live": chart };
  }

  function share(key, now) {
    var yes = 0, n = 0;
    recent.forEach(function (r) {
      if (now - r.t <= SHARE_S * 1000 && (r[key] === true || r[key] === false)) { n += 1; if (r[key]) yes += 1; }
    });
    return n ? Math.round(100 * yes / n) : null;
  }

  function onLive(msg) {
    if (typeof msg._age_s === "number" && msg._age_s * 1000 > STALE_MS) return;  // the session is over
    state.live += 1;
    lastLiveAt = Date.now();
    $("live-idle").hidden = true;
    $("live-session").hidden = false;
    setText("live-label", msg.label ? msg.label : T.unlabelled);
    setText("live-elapsed", clock(msg.elapsed_s));
    setText("live-present", yesNo(msg.present));
    setText("live-facing", yesNo(msg.facing));
    setText("live-gesturing", yesNo(msg.gesturing));
    setText("live-emotion", msg.emotion ? (T.emotions[msg.emotion] || String(msg.emotion)) : T.unknown);
    setText("live-findings", msg.findings === null || msg.findings === undefined ? "–" : String(msg.findings));
    setText("live-frames", msg.frames === undefined || msg.frames === null ? "–" : String(msg.frames));
    setText("live-fps", msg.fps === undefined || msg.fps === null ? "–" : String(msg.fps));
    var now = Date.now();
    recent.push({ t: now, facing: msg.facing, gesturing: msg.gesturing });
    recent = recent.filter(function (r) { return now - r.t <= WINDOW_S * 1000; });
    if (chart && typeof msg.elapsed_s === "number") {
      var x = msg.elapsed_s;
      [share("facing", now), share("gesturing", now)].forEach(function (v, i) {
        var data = chart.data.datasets[i].data;
        data.push({ x: x, y: v });
        while (data.length && data[0].x < x - WINDOW_S) data.shift();
      });
      chart.options.scales.x.min = Math.max(0, x - WINDOW_S);
      chart.options.scales.x.max = Math.max(x, 10);
      chart.update("none");
    }
  }

  function onStatus(payload) {
    var el = $("status");
    el.className = "status status-" + payload.css;
    setText("status-words", payload.words);
    var s = payload.status || {};
    var parts = [];
    if (s.session) parts.push(T.session_in_status + " " + s.session);
    if (s.version) parts.push("v" + s.version);
    if (typeof s.fps === "number") parts.push(s.fps + " fps");
    if (typeof s.temperature_c === "number") parts.push(s.temperature_c + " °C");
    setText("status-detail", parts.join(" · "));
  }

  function onSession(last) {
    var p = $("last-session");
    if (!last) return;
    var a = document.createElement("a");
    a.href = last.url;
    a.textContent = last.label ? last.label : T.unlabelled;
    p.textContent = "";
    p.appendChild(a);
    p.appendChild(document.createTextNode(" · " + last.started));
    p.setAttribute("data-session", last.session_id);
  }

  function onFeed(feed) {
    var el = $("feed-state");
    if (!el || !feed.source) return;
    el.className = "feed " + (feed.connected ? "feed-on" : "feed-off");
    el.textContent = (feed.connected ? T.connected : T.disconnected).replace("{source}", feed.source);
  }

  function listen() {
    var es = new EventSource(root.getAttribute("data-events"));
    function on(name, fn) {
      es.addEventListener(name, function (e) {
        state.events += 1;
        try { fn(JSON.parse(e.data)); } catch (err) { /* one bad message must not stop the page */ }
      });
    }
    on("live", onLive);
    on("status", onStatus);
    on("session", onSession);
    on("feed", onFeed);
    es.addEventListener("open", function () { root.setAttribute("data-connected", "1"); });
  }

  setInterval(function () {
    if (lastLiveAt && Date.now() - lastLiveAt > STALE_MS) {
      $("live-idle").hidden = false;
      $("live-session").hidden = true;
      lastLiveAt = 0;
    }
  }, 1000);

  setupChart();
  listen();
})();
