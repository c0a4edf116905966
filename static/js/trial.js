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
    document.getElementById("f-budget").textContent = R.fmt(t.budget);
    document.getElementById("f-best").textContent = R.fmt(t.best_value);
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
        tr.innerHTML = "<td>" + R.esc((e.created_at || "").slice(0, 19)) + "</td><td>" + R.esc(e.user || "rungs") + "</td><td>" + R.esc(e.kind) + "</td><td>" + R.esc(e.message) + "</td>";
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

  renderTrial(trial);
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
