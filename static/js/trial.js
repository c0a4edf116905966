/* The live trial page: one small chart (Rungs.Chart) per metric, appended as points arrive. */
"use strict";

(function () {
  const R = window.Rungs;
  const page = document.getElementById("trial-page");
  const SWEEP = Number(page.dataset.sweep);
  const TRIAL = Number(page.dataset.trial);
  const snapshot = JSON.parse(document.getElementById("snapshot").textContent);
  const holder = document.getElementById("trial-charts");
  const charts = new Map(); // metric -> its Rungs.Chart, with one series (the metric's)
  let trial = snapshot.trial;

  /* A number to 5 significant digits, as Python's "%.5g" writes it (the template's
     stringformat), so the server's first render and the live one agree: 0.12346, 1.5e-05. */
  function sig(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v !== "number") return String(v);
    if (!isFinite(v)) return isNaN(v) ? "nan" : (v > 0 ? "inf" : "-inf");
    if (v === 0) return "0";
    const [mantissa, exp] = v.toExponential(4).split("e");
    const x = Number(exp);
    if (x < -4 || x >= 5) {
      return mantissa.replace(/\.?0+$/, "") + "e" + (x < 0 ? "-" : "+") + String(Math.abs(x)).padStart(2, "0");
    }
    return v.toFixed(4 - x).replace(/\.0+$|(\.\d*?)0+$/, "$1");
  }

  /* An ISO time on the reader's own clock: "2025-03-01 14:02:09". */
  function localTime(iso) {
    const d = new Date(iso);
    if (!iso || isNaN(d)) return iso || "";
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " +
      p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }

  function showLocalTimes(root) {
    for (const el of root.querySelectorAll("time[datetime]")) {
      el.textContent = localTime(el.getAttribute("datetime"));
      el.title = el.getAttribute("datetime");
    }
  }

  /* Float params to 5 significant digits; ints, strings and booleans as they are. */
  function showParams() {
    for (const el of document.querySelectorAll("#params code[data-param]")) {
      const v = (trial.params || {})[el.dataset.param];
      if (typeof v === "number" && !Number.isInteger(v)) el.textContent = sig(v);
    }
  }

  function wide(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) {
      if (v === null || !isFinite(v)) continue;
      if (v <= 0) return false;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    return hi / lo > 1e3;
  }

  function chartFor(metric) {
    let chart = charts.get(metric);
    if (chart) return chart;
    const card = document.createElement("div");
    card.className = "panel card";
    const div = document.createElement("div");
    div.className = "plot small-plot";
    div.id = "metric-" + metric;
    card.appendChild(div);
    const none = document.getElementById("no-points");
    if (none) none.remove();
    holder.appendChild(card);
    // A new card reflows the grid, and Plotly's own resize follows only the window: a chart
    // drawn before a later metric's card came would spill past its narrowed card.
    new ResizeObserver(() => { if (div._fullLayout) Plotly.Plots.resize(div); }).observe(card);
    const perEpoch = metric.startsWith("val_");
    chart = R.Chart(div, {
      trace: (s) => ({
        type: "scatter", mode: perEpoch ? "lines+markers" : "lines", x: s.x.slice(), y: s.y.slice(),
        line: {color: R.trialColor(trial.number), width: 1.5, dash: perEpoch ? "dot" : "solid"},
        hovertemplate: metric + "<br>step %{x}<br>%{y:.4g}<extra></extra>",
      }),
      layout: () => ({
        template: "plotly_white", title: {text: metric, x: 0.01, font: {size: 13}},
        margin: {l: 56, r: 16, t: 32, b: 36}, uirevision: "keep",
        xaxis: {title: {text: "step"}, ticklabeloverflow: "allow"},
        // A diverging trial spans dozens of decades: a log axis keeps the rest readable.
        yaxis: {type: wide(chart.series.get(metric).y) ? "log" : "linear", ticklabeloverflow: "allow"},
      }),
      live: () => R.ACTIVE.has(trial.status),
    });
    chart.set(metric, {x: [], y: []});
    charts.set(metric, chart);
    return chart;
  }

  for (const [metric, s] of Object.entries(snapshot.series)) chartFor(metric).set(metric, {x: s.step.slice(), y: s.value.slice()});
  if (!charts.size) holder.innerHTML = '<p class="card muted" id="no-points">No metric points yet: the charts start with the first report.</p>';
  for (const chart of charts.values()) chart.draw(true);
  let lastStep = trial.step || 0;
  for (const chart of charts.values()) for (const s of chart.series.values()) if (s.x.length) lastStep = Math.max(lastStep, s.x[s.x.length - 1]);
  document.getElementById("f-step").textContent = lastStep;

  const controls = document.getElementById("trial-controls");

  function renderTrial(t) {
    trial = t;
    if (controls) {
      const html = R.actionButtons(t.actions, {});
      if (controls.innerHTML !== html) controls.innerHTML = html;
    }
    const st = document.getElementById("trial-status");
    st.textContent = t.status;
    st.className = "status status-" + t.status;
    page.dataset.status = t.status;
    document.getElementById("f-rung").textContent = t.bracket + " / " + t.rung;
    const budget = document.getElementById("f-budget");
    budget.textContent = R.fmt(t.budget) + " " + (budget.dataset.unit || "");
    document.getElementById("f-best").textContent = sig(t.best_value);
    document.getElementById("f-worker").textContent = t.worker || "—";
  }

  function onMessage(msg) {
    if (msg.trials) for (const t of msg.trials) if (t.id === TRIAL) renderTrial(t);
    if (msg.events) {
      const tbody = document.querySelector("#trial-events tbody");
      for (const e of msg.events) {
        if (e.trial !== TRIAL || tbody.querySelector('tr[data-event="' + e.id + '"]')) continue;
        const tr = document.createElement("tr");
        tr.dataset.event = e.id;
        tr.innerHTML = '<td class="when"><time datetime="' + R.esc(e.created_at || "") + '"></time></td><td>' + R.esc(e.user || "rungs") +
          "</td><td>" + R.esc(e.kind) + "</td><td>" + R.esc(e.message) + "</td>";
        showLocalTimes(tr);
        const none = tbody.querySelector("tr.none");
        if (none) none.remove();
        tbody.appendChild(tr);
      }
    }
    const touched = new Set();
    for (const g of msg.points || []) {
      if (g.t !== TRIAL) continue;
      const chart = chartFor(g.n);
      chart.append(g.n, g.s, g.v);
      touched.add(chart);
      document.getElementById("f-step").textContent = Math.max(trial.step || 0, g.s[g.s.length - 1]);
    }
    const draws = Array.from(touched, (chart) => chart.draw(true));
    if (draws.length && msg.tmax) {
      Promise.all(draws).then(() => {
        const now = Date.now() / 1000;
        R.latency.push([now - msg.tmax, now - msg.tmin]);
      });
    }
  }

  // A script trial's console: re-read every 2 s while the trial is active (and once after).
  const consoleBox = document.getElementById("console");
  const segments = document.getElementById("console-segments");

  function renderLogs(logs) {
    if (!logs.length) return;
    consoleBox.hidden = false;
    logs.forEach((log, i) => {
      const key = log.rung + "-" + log.attempt;
      let seg = segments.querySelector('details[data-key="' + key + '"]');
      if (!seg) {
        seg = document.createElement("details");
        seg.className = "console-seg";
        seg.dataset.key = key;
        seg.innerHTML = "<summary></summary><pre class='console-text'></pre>";
        seg.open = i === logs.length - 1;
        segments.appendChild(seg);
      }
      const state = log.exit_code === null ? "running" : "exit code " + log.exit_code;
      const cut = log.dropped ? " · its first " + log.dropped + " characters were cut" : "";
      seg.querySelector("summary").textContent = "segment " + log.attempt + " · rung " + log.rung + " · " + state + cut;
      const pre = seg.querySelector("pre");
      if (pre.textContent !== log.text) {
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.textContent = log.text;
        if (atEnd) pre.scrollTop = pre.scrollHeight;  // tail the output, unless scrolled up
      }
    });
  }

  let wasActive = true;
  function pollLogs() {
    const active = R.ACTIVE.has(trial.status);
    if (active || wasActive) {
      fetch("/api/trials/" + TRIAL + "/logs/", {credentials: "same-origin"})
        .then((r) => (r.ok ? r.json() : []))
        .then(renderLogs)
        .catch(() => {});
    }
    wasActive = active;
    setTimeout(pollLogs, 2000);
  }

  renderTrial(trial);
  showParams();
  showLocalTimes(page);
  pollLogs();
  const socket = R.connect({sweep: SWEEP, trial: TRIAL, cursor: snapshot.cursor, onMessage});

  if (controls) controls.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button[data-action]");
    if (!btn) return;
    const action = btn.dataset.action;
    const label = R.actionLabel(action);
    if (!confirm(label + " trial " + trial.number + "?")) return;
    socket.ask({action, trial: TRIAL}).then((reply) => {
      if (reply.ok) { R.flash(label.toLowerCase() + ": done", "ok"); renderTrial(reply.trial); }
      else R.flash(label.toLowerCase() + " refused — " + R.errorText(reply.errors), "error");
    });
  });
  window.RungsPage = {socket, charts};
})();
