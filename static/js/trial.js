/* The live trial page: one small chart per metric, appended as points arrive. */
"use strict";

(function () {
  const R = window.Rungs;
  const page = document.getElementById("trial-page");
  const SWEEP = Number(page.dataset.sweep);
  const TRIAL = Number(page.dataset.trial);
  const snapshot = JSON.parse(document.getElementById("snapshot").textContent);
  const holder = document.getElementById("trial-charts");
  const charts = new Map(); // metric -> {div, x, y}
  let trial = snapshot.trial;

  function chartFor(metric) {
    let c = charts.get(metric);
    if (c) return c;
    const card = document.createElement("div");
    card.className = "panel card";
    const div = document.createElement("div");
    div.className = "plot small-plot";
    div.id = "metric-" + metric;
    card.appendChild(div);
    holder.appendChild(card);
    c = {div, x: [], y: [], drawn: false};
    charts.set(metric, c);
    return c;
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

  function draw(metric) {
    const c = charts.get(metric);
    const perEpoch = metric.startsWith("val_");
    const xaxis = {title: {text: "step"}, ticklabeloverflow: "allow"};
    // While the trial runs, the x axis reaches a quarter past its last step, so that new
    // points land inside the view and are drawn without a full redraw (R.appendInPlace).
    const last = c.x.length ? c.x[c.x.length - 1] : null;
    if (last !== null && R.ACTIVE.has(trial.status)) xaxis.autorangeoptions = {include: [last + Math.max(20, 0.25 * last)]};
    return Plotly.react(c.div, [{
      type: "scatter", mode: perEpoch ? "lines+markers" : "lines", x: c.x.slice(), y: c.y.slice(),
      line: {color: R.trialColor(trial.number), width: 1.5, dash: perEpoch ? "dot" : "solid"},
      hovertemplate: metric + "<br>step %{x}<br>%{y:.4g}<extra></extra>",
    }], {
      template: "plotly_white", title: {text: metric, x: 0.01, font: {size: 13}},
      margin: {l: 56, r: 16, t: 32, b: 36}, xaxis, uirevision: "keep",
      // A diverging trial spans dozens of decades: a log axis keeps the rest readable.
      yaxis: {type: wide(c.y) ? "log" : "linear", ticklabeloverflow: "allow"},
    }, {responsive: true, displaylogo: false});
  }

  for (const [metric, s] of Object.entries(snapshot.series)) {
    const c = chartFor(metric);
    c.x = s.step.slice();
    c.y = s.value.slice();
  }
  for (const metric of charts.keys()) draw(metric);
  let lastStep = trial.step || 0;
  for (const c of charts.values()) if (c.x.length) lastStep = Math.max(lastStep, c.x[c.x.length - 1]);
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
    const draws = [];
    for (const g of msg.points || []) {
      if (g.t !== TRIAL) continue;
      const fresh = !charts.has(g.n);
      const c = chartFor(g.n);
      const truncated = R.appendPoints(c, g.s, g.v);
      // Appends inside the view draw only the new points; anything else redraws the chart.
      const drawn = fresh || truncated || !c.div.data ? null : R.appendInPlace(c.div, [0], [g.s], [g.v]);
      draws.push(drawn || draw(g.n));
      document.getElementById("f-step").textContent = Math.max(trial.step || 0, g.s[g.s.length - 1]);
    }
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
