/* The live sweep page: curves, the bracket, analysis panels, the trial table and steering.
   The first render comes from the snapshot embedded in the page; the socket then resumes
   from its cursor and appends what is new. Figures are built on the server
   (dashboard/plots.py); this file keeps their data and appends to it. */
"use strict";

(function () {
  const R = window.Rungs;
  const page = document.getElementById("sweep-page");
  const SWEEP = Number(page.dataset.sweep);
  const CAN_STEER = page.dataset.canSteer === "1";
  const snapshot = JSON.parse(document.getElementById("snapshot").textContent);

  const state = {
    sweep: null,
    trials: new Map(), // id -> row
    lastStep: new Map(), // trial id -> last step seen in any metric
    bracket: null,
    selected: null,
    hovered: null,
    analytics: null,
    historyX: "number",
  };

  // --- curve charts ----------------------------------------------------------------------

  const charts = {};
  for (const key of ["loss", "grad", "lr"]) {
    const panel = document.querySelector('.panel[data-chart="' + key + '"]');
    charts[key] = {
      key, div: document.getElementById("chart-" + key), panel,
      layout: null, metrics: [], templates: {},
      series: new Map(), // "trial:metric" -> {trial, metric, x, y}
      order: [], // keys in trace order as drawn
      smooth: 0, logy: false, hide: false,
      full: true, appends: new Map(),
      unsynced: new Set(), sync: false, syncTimer: null, pointer: false, // see syncNow
      reachSeen: null, userX: false, // the user zoomed or panned x: keep their view
    };
  }
  const metricChart = {};

  /* Values all > 0 and spread over more than 3 decades (a diverging trial): log y. */
  function widePositive(chart) {
    let lo = Infinity, hi = -Infinity;
    for (const s of chart.series.values()) for (const v of s.y) {
      if (v === null || !isFinite(v)) continue;
      if (v <= 0) return false;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return hi / lo > 1e3;
  }

  function initChart(chart, figure) {
    const first = chart.layout === null;
    chart.layout = figure.layout;
    chart.metrics = figure.layout.meta.metrics;
    chart.templates = figure.layout.meta.templates;
    for (const m of chart.metrics) metricChart[m] = chart;
    chart.series = new Map();
    for (const t of figure.data) {
      chart.series.set(t.meta.trial + ":" + t.meta.metric, {trial: t.meta.trial, metric: t.meta.metric, x: t.x.slice(), y: t.y.slice()});
      if (t.x.length) state.lastStep.set(t.meta.trial, Math.max(state.lastStep.get(t.meta.trial) || 0, t.x[t.x.length - 1]));
    }
    chart.full = true;
    if (first && widePositive(chart)) {
      chart.logy = true;
      chart.panel.querySelector('[data-control="logy"]').checked = true;
    }
  }

  function traceFor(chart, s) {
    const tmpl = chart.templates[s.metric] || {mode: "lines", line: {width: 1.5}};
    const trial = state.trials.get(s.trial);
    const number = trial ? trial.number : 0;
    const color = R.trialColor(number);
    const hl = state.hovered !== null ? state.hovered : state.selected;
    const dim = hl !== null && hl !== s.trial;
    const strong = hl !== null && hl === s.trial;
    const smooth = chart.smooth && tmpl.mode === "lines";
    const trace = {
      // Copies: Plotly keeps the arrays it is given, and extendTraces appends to them.
      type: "scatter", mode: tmpl.mode, x: s.x.slice(), y: smooth ? R.ema(s.y, chart.smooth) : s.y.slice(),
      name: "#" + number + " " + s.metric, uid: s.trial + ":" + s.metric,
      meta: {trial: s.trial, number, metric: s.metric},
      line: Object.assign({}, tmpl.line, {color, width: (tmpl.line.width || 1.5) * (strong ? 2.2 : 1)}),
      opacity: dim ? 0.18 : 1,
      hovertemplate: "trial " + number + " · " + s.metric + "<br>step %{x}<br>%{y:.4g}<extra></extra>",
      visible: !(chart.hide && trial && R.FINISHED.has(trial.status)),
    };
    if (tmpl.marker) trace.marker = Object.assign({}, tmpl.marker, {color});
    return trace;
  }

  /* The x range the page keeps (unless the user zoomed): from 0 to the last step and,
     while trials are live, past it by a quarter of the span or by what the curves grew in
     the last HEADROOM_S seconds (at most the span again), so that the next points land
     inside the view and are drawn without Plotly computing anything: a fast trainer would
     otherwise cost a redraw every few hundred milliseconds. Null without points. */
  const HEADROOM_S = 5;
  function xRange(chart) {
    let lo = Infinity, hi = -Infinity, live = false;
    for (const s of chart.series.values()) {
      if (!s.x.length) continue;
      lo = Math.min(lo, s.x[0]);
      hi = Math.max(hi, s.x[s.x.length - 1]);
      const trial = state.trials.get(s.trial);
      if (trial && R.ACTIVE.has(trial.status)) live = true;
    }
    if (hi === -Infinity) return null;
    const x0 = Math.min(lo, 0), span = hi - x0, now = performance.now();
    if (!live) return [x0, Math.max(hi, x0 + 1)];
    const seen = chart.reachSeen; // [time, last step, end] when the range last grew
    if (seen && seen[2] > hi) return [x0, seen[2]]; // steady until the points reach its end
    let ahead = Math.max(20, 0.25 * span);
    if (seen && hi > seen[1] && now > seen[0]) {
      const rate = (hi - seen[1]) / ((now - seen[0]) / 1000);
      ahead = Math.max(ahead, Math.min(rate * HEADROOM_S, span));
    }
    chart.reachSeen = [now, hi, hi + ahead];
    return [x0, hi + ahead];
  }

  /* New points past the end of the page's x range: widen it (Plotly redraws axes and lines
     from what it computed, about 2 ms, against 15–40 for a full redraw). */
  function stretchX(chart, xs) {
    const xa = chart.div._fullLayout && chart.div._fullLayout.xaxis;
    if (chart.userX || !xa || xa.autorange || xa.type !== "linear") return false;
    const top = Math.max(...xs.map((x) => (x.length ? x[x.length - 1] : -Infinity)));
    if (!(top > xa.range[1])) return false;
    const range = xRange(chart);
    if (!range || range[1] < top) return false;
    Plotly.relayout(chart.div, {"xaxis.range": range}); // draws at once (a promise for events)
    return true;
  }

  /* Points drawn by R.extendLines reach Plotly's own state (what hover finds) with a
     Plotly draw of their traces: at once when the pointer enters the chart or Plotly redrew
     it (zoom, resize), each second while the pointer is on it, else every ten seconds; one
     chart a draw (each takes the page about 15 ms, in which it reads nothing new). */
  const SYNC_MS = 1000, IDLE_SYNC_MS = 10000;
  function drawnOutsidePlotly(chart, indices) {
    for (const i of indices) chart.unsynced.add(i);
    if (chart.syncTimer) return;
    chart.syncTimer = setTimeout(() => syncNow(chart), chart.pointer ? SYNC_MS : IDLE_SYNC_MS);
  }

  function syncNow(chart) {
    clearTimeout(chart.syncTimer);
    chart.syncTimer = null;
    if (!chart.unsynced.size) return;
    chart.sync = true;
    scheduleDraw();
  }

  function drawChart(chart, canSync) {
    const sync = chart.sync && canSync;
    if (!chart.layout || (!chart.full && !chart.appends.size && !sync)) return Promise.resolve();
    const keys = Array.from(chart.series.keys()).sort((a, b) => {
      const sa = chart.series.get(a), sb = chart.series.get(b);
      const ma = chart.metrics.indexOf(sa.metric), mb = chart.metrics.indexOf(sb.metric);
      if (ma !== mb) return ma - mb;
      const na = (state.trials.get(sa.trial) || {}).number || 0, nb = (state.trials.get(sb.trial) || {}).number || 0;
      return na - nb;
    });
    const sameOrder = !chart.full && keys.length === chart.order.length && keys.every((k, i) => k === chart.order[i]);
    const appends = chart.appends;
    chart.appends = new Map();
    if (sameOrder && !chart.smooth) {
      // Pure appends inside the view: extend the drawn lines, or let Plotly draw only the
      // changed traces (and those extended since its last draw). Otherwise (a point outside
      // the view) redraw the figure from the series, which hold the appends too.
      const idx = [], xs = [], ys = [];
      for (const [key, pts] of appends) {
        idx.push(chart.order.indexOf(key));
        xs.push(pts.x);
        ys.push(pts.y);
      }
      const withUnsynced = () => {
        for (const i of chart.unsynced) if (!idx.includes(i)) { idx.push(i); xs.push([]); ys.push([]); }
      };
      // Past the x range: widen it first; Plotly then redrew the lines from what it had
      // computed, so those drawn outside it are extended again too.
      if (idx.length && stretchX(chart, xs)) withUnsynced();
      if (!sync && idx.length && R.extendLines(chart.div, idx, xs, ys)) {
        drawnOutsidePlotly(chart, idx);
        return Promise.resolve();
      }
      withUnsynced();
      const drawn = idx.length ? R.appendInPlace(chart.div, idx, xs, ys) : null;
      if (drawn) {
        chart.sync = false;
        chart.unsynced.clear();
        return drawn;
      }
    }
    chart.full = chart.sync = false;
    chart.unsynced.clear();
    chart.order = keys;
    const axis = {ticklabeloverflow: "allow"}; // "hide past div" measures every label per label
    const layout = Object.assign({}, chart.layout, {
      xaxis: Object.assign({}, chart.layout.xaxis, axis),
      yaxis: Object.assign({}, chart.layout.yaxis, axis, {type: chart.logy ? "log" : "linear"}),
    });
    const range = chart.userX ? null : xRange(chart);
    if (range) Object.assign(layout.xaxis, {range, autorange: false});
    const traces = keys.map((k) => traceFor(chart, chart.series.get(k)));
    return Plotly.react(chart.div, traces, layout, {responsive: true, displaylogo: false});
  }

  function restyleHighlight() {
    for (const chart of Object.values(charts)) chart.full = true;
    scheduleDraw();
  }

  /* One draw at a time: increments that arrive while a draw is in flight are gathered and
     drawn together as soon as it lands (after the browser has had a turn: a task, not a
     frame, of waiting), so a busy page never falls behind and an idle one draws at once.
     Every increment goes into exactly one draw: none is drawn twice, none is left out. */
  let drawPending = false;
  let drawing = null; // the draw in flight (a promise), or null
  let pendingT = null; // [newest, oldest] log time of the points waiting to be drawn
  let stepsDirty = new Set(); // trials whose step cell waits for the next draw
  function scheduleDraw(tmax, tmin) {
    if (tmax) pendingT = pendingT ? [Math.max(pendingT[0], tmax), Math.min(pendingT[1], tmin || tmax)] : [tmax, tmin || tmax];
    if (drawPending) return;
    drawPending = true;
    if (!drawing) Promise.resolve().then(flushDraw); // else the draw in flight calls it
  }

  function flushDraw() {
    drawPending = false;
    const t = pendingT;
    pendingT = null;
    updateSteps(stepsDirty);
    stepsDirty = new Set();
    const syncing = Object.values(charts).find((c) => c.sync);
    drawing = Promise.all(Object.values(charts).map((c) => drawChart(c, c === syncing))).then(() => {
      if (t) {
        // Report -> drawn latency of the newest and the oldest point drawn (log time
        // against the clock once the lines hold them).
        const now = Date.now() / 1000;
        R.latency.push([now - t[0], now - t[1]]);
        if (R.latency.length > 10000) R.latency.shift();
      }
    }, (err) => console.error("drawing the curves failed", err)).then(() => {
      drawing = null;
      if (Object.values(charts).some((c) => c.sync)) drawPending = true; // the next chart's turn
      if (drawPending) setTimeout(flushDraw, 0);
    });
  }

  function applyPoints(groups, tmax, tmin) {
    if (!groups || !groups.length) return;
    for (const g of groups) {
      const last = state.lastStep.get(g.t) || 0;
      state.lastStep.set(g.t, Math.max(last, g.s[g.s.length - 1]));
      stepsDirty.add(g.t);
      const chart = metricChart[g.n];
      if (!chart) continue;
      const key = g.t + ":" + g.n;
      let s = chart.series.get(key);
      if (!s) {
        s = {trial: g.t, metric: g.n, x: [], y: []};
        chart.series.set(key, s);
        chart.full = true;
      }
      if (R.appendPoints(s, g.s, g.v)) chart.full = true;
      let pts = chart.appends.get(key);
      if (!pts) { pts = {x: [], y: []}; chart.appends.set(key, pts); }
      pts.x.push(...g.s);
      pts.y.push(...g.v);
    }
    scheduleDraw(tmax, tmin);
  }

  for (const chart of Object.values(charts)) {
    const c = chart.panel;
    const slider = c.querySelector('[data-control="smooth"]');
    slider.addEventListener("input", () => {
      chart.smooth = Number(slider.value);
      slider.nextElementSibling.textContent = slider.value;
      chart.full = true;
      scheduleDraw();
    });
    c.querySelector('[data-control="logy"]').addEventListener("change", (ev) => { chart.logy = ev.target.checked; chart.full = true; scheduleDraw(); });
    c.querySelector('[data-control="hide"]').addEventListener("change", (ev) => { chart.hide = ev.target.checked; chart.full = true; scheduleDraw(); });
  }

  function hookChartEvents() {
    for (const chart of Object.values(charts)) {
      if (chart.hooked || !chart.div.on) continue;
      chart.hooked = true;
      chart.div.on("plotly_click", (ev) => { const p = ev.points && ev.points[0]; if (p && p.data.meta) select(p.data.meta.trial); });
      chart.div.on("plotly_hover", (ev) => { const p = ev.points && ev.points[0]; if (p && p.data.meta && state.hovered !== p.data.meta.trial) { state.hovered = p.data.meta.trial; restyleHighlight(); } });
      chart.div.on("plotly_unhover", () => { if (state.hovered !== null) { state.hovered = null; restyleHighlight(); } });
      // A zoom or pan reports "xaxis.range[0]"; the page's own ranges come as "xaxis.range"
      // (stretchX, after which the lines are extended again).
      chart.div.on("plotly_relayout", (ev) => {
        if ("xaxis.range" in ev) return;
        if (ev["xaxis.autorange"]) { chart.userX = false; chart.full = true; scheduleDraw(); }
        else if ("xaxis.range[0]" in ev) chart.userX = true;
        syncNow(chart);
      });
      chart.div.addEventListener("mouseenter", () => { chart.pointer = true; syncNow(chart); });
      chart.div.addEventListener("mouseleave", () => { chart.pointer = false; });
    }
  }

  // --- selection -------------------------------------------------------------------------

  function select(trialId) {
    state.selected = state.selected === trialId ? null : trialId;
    restyleHighlight();
    renderBracket();
    document.querySelectorAll("#trials tr.selected").forEach((tr) => tr.classList.remove("selected"));
    if (state.selected !== null) {
      const row = document.querySelector('#trials tr[data-trial="' + state.selected + '"]');
      if (row) { row.classList.add("selected"); }
    }
  }

  // --- bracket ---------------------------------------------------------------------------

  const bracketEl = document.getElementById("bracket");
  function renderBracket() { window.RungsBracket.render(bracketEl, state.bracket, state.selected, select); }
  window.addEventListener("resize", () => renderBracket());

  // --- sweep facts -----------------------------------------------------------------------

  function renderSweep() {
    const s = state.sweep;
    if (!s) return;
    const status = document.getElementById("sweep-status");
    status.textContent = s.status;
    status.className = "status status-" + s.status;
    page.dataset.status = s.status;
    const best = s.best ? R.fmt(s.best.value) + " (trial " + s.best.number + ")" : "—";
    const counts = Object.entries(s.counts).map(([k, v]) => v + " " + k).join(", ") || "no trials yet";
    document.getElementById("sweep-facts").innerHTML =
      "<span><b>" + R.esc(s.objective.mode) + " " + R.esc(s.objective.metric) + "</b> · best " + R.esc(best) + "</span>" +
      "<span>" + s.finished + " / " + s.max_trials + " finished (" + R.esc(counts) + ")</span>" +
      '<span class="progress"><span class="progress-bar" style="width:' + Math.round(100 * s.progress) + '%"></span></span>' +
      "<span>concurrency " + s.concurrency + " · " + R.esc((s.sampler || {}).name || "") + " + " + R.esc((s.scheduler || {}).name || "") + "</span>" +
      (s.error ? '<span class="error">' + R.esc(s.error) + "</span>" : "");
    if (CAN_STEER) {
      const holder = document.getElementById("sweep-actions");
      const html = R.actionButtons(s.actions, {});
      if (holder.innerHTML !== html) holder.innerHTML = html;
      R.offer(page, s.actions);
    }
    const form = document.getElementById("sweep-update");
    if (form && !form.contains(document.activeElement)) {
      form.concurrency.value = s.concurrency;
      form.max_trials.value = s.max_trials;
    }
  }

  // --- trial table -----------------------------------------------------------------------

  const tbody = document.querySelector("#trials tbody");
  const rows = new Map();

  function paramsText(params) {
    return Object.entries(params || {}).map(([k, v]) => k + "=" + (typeof v === "number" ? R.fmt(v) : v)).join(", ");
  }

  function rowHtml(t) {
    const step = Math.max(t.step || 0, state.lastStep.get(t.id) || 0);
    let html = '<td><span class="swatch" style="background:' + R.trialColor(t.number) + '"></span>' +
      '<a href="/sweeps/' + SWEEP + "/trials/" + t.number + '/">' + t.number + "</a>" + (t.manual ? ' <span class="badge manual-badge" title="added by hand">hand</span>' : "") + "</td>" +
      '<td class="params">' + R.esc(paramsText(t.params)) + "</td>" +
      '<td><span class="status status-' + t.status + '">' + t.status + "</span></td>" +
      "<td>" + t.bracket + " / " + t.rung + "</td><td class=\"num\">" + R.fmt(t.budget) + '</td><td class="num">' + R.fmt(t.best_value) + "</td>" +
      '<td class="num step">' + step + "</td><td>" + R.esc(t.worker || "") + "</td>";
    if (CAN_STEER) {
      html += '<td class="actions">' + R.actionButtons(t.actions, {small: true, trial: t.id}) + "</td>";
    }
    return html;
  }

  function upsertRow(t) {
    let tr = rows.get(t.id);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.trial = t.id;
      rows.set(t.id, tr);
      // Keep trial-number order: find the first row with a larger number.
      let before = null;
      for (const other of tbody.children) {
        const o = state.trials.get(Number(other.dataset.trial));
        if (o && o.number > t.number) { before = other; break; }
      }
      tbody.insertBefore(tr, before);
    }
    tr.dataset.status = t.status;
    tr.innerHTML = rowHtml(t);
    tr.classList.toggle("selected", state.selected === t.id);
  }

  /* The step cells of ``ids`` (all trials without it). */
  function updateSteps(ids) {
    for (const id of ids || state.lastStep.keys()) {
      const step = state.lastStep.get(id);
      const tr = rows.get(id);
      const t = state.trials.get(id);
      if (tr && t) {
        const cell = tr.querySelector(".step");
        if (cell) cell.textContent = Math.max(t.step || 0, step);
      }
    }
  }

  tbody.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button[data-action]");
    if (btn) {
      const trial = state.trials.get(Number(btn.dataset.trial));
      const action = btn.dataset.action;
      const label = R.actionLabel(action);
      if (!confirm(label + " trial " + trial.number + "?")) return;
      steer({action, trial: trial.id}, label.toLowerCase() + " trial " + trial.number);
      return;
    }
    const tr = ev.target.closest("tr[data-trial]");
    if (tr && !ev.target.closest("a")) select(Number(tr.dataset.trial));
  });

  function applyTrials(list) {
    let redraw = false;
    for (const t of list) {
      const old = state.trials.get(t.id);
      state.trials.set(t.id, t);
      upsertRow(t);
      if (!old || old.status !== t.status) {
        // Hidden finished trials, and the x headroom kept only while trials are live.
        const ended = old && R.ACTIVE.has(old.status) && !R.ACTIVE.has(t.status);
        for (const chart of Object.values(charts)) if (chart.hide || ended) chart.full = true;
        redraw = redraw || ended;
      }
    }
    if (redraw) scheduleDraw();
  }

  // --- steering --------------------------------------------------------------------------

  let socket = null;
  function steer(message, what) {
    return socket.ask(message).then((reply) => {
      if (reply.ok) R.flash(what + ": done", "ok");
      else R.flash(what + " refused — " + R.errorText(reply.errors), "error");
      return reply;
    });
  }

  if (CAN_STEER) {
    document.getElementById("sweep-actions").addEventListener("click", (ev) => {
      const btn = ev.target.closest("button[data-action]");
      if (!btn) return;
      const label = R.actionLabel(btn.dataset.action);
      if (!confirm(label + "?")) return;
      steer({action: btn.dataset.action}, label.toLowerCase());
    });
    document.getElementById("sweep-update").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const f = ev.target;
      steer({action: "update_sweep", concurrency: Number(f.concurrency.value), max_trials: Number(f.max_trials.value)}, "update sweep");
    });
  }

  function buildEnqueueForm(space) {
    const form = document.getElementById("enqueue");
    if (!form || form.dataset.built) return;
    form.dataset.built = "1";
    const parts = [];
    for (const [name, spec] of Object.entries(space || {})) {
      let input;
      const optional = spec.condition ? ' placeholder="(only if ' + R.esc(spec.condition.parent) + ' ∈ ' + R.esc(JSON.stringify(spec.condition.values)) + ')"' : "";
      if (spec.type === "categorical") {
        input = '<select name="' + R.esc(name) + '">' + (spec.condition ? '<option value="">—</option>' : "") +
          spec.choices.map((c, i) => '<option value="' + i + '">' + R.esc(String(c)) + "</option>").join("") + "</select>";
      } else {
        const step = spec.step ? spec.step : (spec.type === "int" ? 1 : "any");
        input = '<input type="number" name="' + R.esc(name) + '" min="' + spec.low + '" max="' + spec.high + '" step="' + step + '"' + optional +
          (spec.condition ? "" : ' required value="' + (spec.type === "int" ? Math.round((spec.low + spec.high) / 2) : (spec.log ? Math.sqrt(spec.low * spec.high).toPrecision(3) : (spec.low + spec.high) / 2)) + '"') + ">";
      }
      parts.push('<label data-param="' + R.esc(name) + '">' + R.esc(name) + " <span class=\"muted small\">" +
        (spec.type === "categorical" ? "" : "[" + spec.low + ", " + spec.high + "]" + (spec.log ? " log" : "")) + "</span> " + input +
        '<span class="field-error"></span></label>');
    }
    parts.push('<button type="submit">Add trial</button>');
    form.innerHTML = parts.join("");
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const params = {};
      for (const [name, spec] of Object.entries(space)) {
        const el = form.elements[name];
        if (el.value === "") continue;
        if (spec.type === "categorical") params[name] = spec.choices[Number(el.value)];
        else params[name] = spec.type === "int" ? parseInt(el.value, 10) : Number(el.value);
      }
      form.querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; });
      steer({action: "enqueue", params}, "add trial").then((reply) => {
        if (reply.ok) return;
        for (const [field, rule] of Object.entries(reply.errors || {})) {
          const name = field.replace(/^params\./, "");
          const label = form.querySelector('label[data-param="' + CSS.escape(name) + '"] .field-error');
          if (label) label.textContent = rule;
        }
      });
    });
  }

  // --- analysis panels -------------------------------------------------------------------

  function renderAnalytics() {
    const a = state.analytics;
    if (!a) return;
    const cfg = {responsive: true, displaylogo: false};
    const hist = state.historyX === "time" ? a.history_time : a.history_number;
    Plotly.react("chart-history", hist.data, hist.layout, cfg);
    Plotly.react("chart-parallel", a.parallel.data, a.parallel.layout, cfg);
    Plotly.react("chart-importance", a.importance.data, a.importance.layout, cfg);
    const sur = a.surrogate;
    const panel = document.getElementById("surrogate-panel");
    const select = document.getElementById("surrogate-param");
    panel.dataset.available = sur.available ? "1" : "0";
    if (!sur.available) {
      document.getElementById("surrogate-controls").hidden = true;
      document.getElementById("chart-surrogate").hidden = true;
      document.getElementById("surrogate-note").innerHTML = "<b>Surrogate: not available.</b> " + R.esc(sur.reason);
    } else if (!select.options.length) {
      select.innerHTML = sur.params.map((p) => '<option value="' + R.esc(p) + '">' + R.esc(p) + "</option>").join("");
      document.getElementById("surrogate-note").textContent = "The Bayesian sampler's model: mean ± σ of the objective and the acquisition along one parameter, the others held where it would propose next.";
    }
  }
  document.querySelectorAll('input[name="history-x"]').forEach((r) => r.addEventListener("change", () => {
    state.historyX = r.value;
    renderAnalytics();
  }));
  document.getElementById("surrogate-go").addEventListener("click", () => {
    const param = document.getElementById("surrogate-param").value;
    document.getElementById("surrogate-note").textContent = "fitting…";
    socket.ask({action: "surrogate", param}).then((reply) => {
      if (!reply.ok) { document.getElementById("surrogate-note").textContent = "Not available yet: " + R.errorText(reply.errors); return; }
      document.getElementById("surrogate-note").textContent = "";
      Plotly.react("chart-surrogate", reply.figure.data, reply.figure.layout, {responsive: true, displaylogo: false});
    });
  });

  // --- events ----------------------------------------------------------------------------

  const eventsEl = document.getElementById("events");
  const shownEvents = new Set();
  function applyEvents(list) {
    for (const e of list) {
      if (shownEvents.has(e.id)) continue; // a resume snapshot repeats the newest events
      shownEvents.add(e.id);
      const li = document.createElement("li");
      li.innerHTML = '<span class="muted">' + R.esc((e.created_at || "").slice(11, 19)) + "</span> <b>" + R.esc(e.user || "rungs") + "</b> " +
        R.esc(e.kind) + (e.trial_number ? " · trial " + e.trial_number : "") + ' <span class="muted">' + R.esc(e.message) + "</span>";
      eventsEl.prepend(li);
    }
    while (eventsEl.children.length > 200) eventsEl.lastChild.remove();
  }

  // --- messages --------------------------------------------------------------------------

  function applyState(msg) {
    if (msg.trials) applyTrials(msg.trials);
    if (msg.sweep) { state.sweep = msg.sweep; renderSweep(); buildEnqueueForm(msg.sweep.space); }
    if (msg.bracket) { state.bracket = msg.bracket; renderBracket(); }
    if (msg.events) applyEvents(msg.events);
    if (msg.analytics) { state.analytics = msg.analytics; renderAnalytics(); }
  }

  function onMessage(msg) {
    if (msg.type === "snapshot") {
      if (msg.full) {
        for (const [key, chart] of Object.entries(charts)) if (msg.figures && msg.figures[key]) initChart(chart, msg.figures[key]);
        state.trials = new Map();
        tbody.innerHTML = "";
        rows.clear();
      }
      applyState(msg);
      applyPoints(msg.points, msg.tmax, msg.tmin);
      updateSteps();
      scheduleDraw();
      setTimeout(hookChartEvents, 0);
    } else if (msg.type === "inc") {
      applyState(msg);
      applyPoints(msg.points, msg.tmax, msg.tmin);
    } else if (msg.type === "analytics") {
      state.analytics = msg;
      renderAnalytics();
    } else if (msg.type === "gone") {
      R.flash("This sweep was deleted.", "error");
      socket.close();
    }
  }

  // First render from the embedded snapshot, then live from its cursor.
  onMessage(snapshot);
  socket = R.connect({sweep: SWEEP, cursor: snapshot.cursor, onMessage});
  window.RungsPage = {state, charts, socket, select};
})();
