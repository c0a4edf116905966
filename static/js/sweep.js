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
    newest: 0, // the highest trial number seen
  };

  // --- curve charts ----------------------------------------------------------------------

  /* One panel per curve figure: its Rungs.Chart, the figure's layout and metric styles
     from the server, and the panel's controls. */
  const charts = {};
  for (const key of ["loss", "grad", "lr"]) {
    const panel = document.querySelector('.panel[data-chart="' + key + '"]');
    const c = {key, panel, layout: null, metrics: [], templates: {}, smooth: 0, logy: false, hide: false};
    c.chart = R.Chart(document.getElementById("chart-" + key), {
      trace: (s) => traceFor(c, s),
      layout: () => chartLayout(c),
      order: (a, b) => {
        const ma = c.metrics.indexOf(a.metric), mb = c.metrics.indexOf(b.metric);
        if (ma !== mb) return ma - mb;
        return ((state.trials.get(a.trial) || {}).number || 0) - ((state.trials.get(b.trial) || {}).number || 0);
      },
      live: (s) => { const trial = state.trials.get(s.trial); return Boolean(trial && R.ACTIVE.has(trial.status)); },
      raw: () => !c.smooth,
      request: () => scheduleDraw(),
    });
    charts[key] = c;
  }
  const metricChart = {};

  /* Values all > 0 and spread over more than 3 decades (a diverging trial): log y. */
  function widePositive(c) {
    let lo = Infinity, hi = -Infinity;
    for (const s of c.chart.series.values()) for (const v of s.y) {
      if (v === null || !isFinite(v)) continue;
      if (v <= 0) return false;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return hi / lo > 1e3;
  }

  function initChart(c, figure) {
    const first = c.layout === null;
    c.layout = figure.layout;
    c.metrics = figure.layout.meta.metrics;
    c.templates = figure.layout.meta.templates;
    for (const m of c.metrics) metricChart[m] = c;
    c.chart.clear();
    for (const t of figure.data) {
      c.chart.set(t.meta.trial + ":" + t.meta.metric, {trial: t.meta.trial, metric: t.meta.metric, x: t.x.slice(), y: t.y.slice()});
      if (t.x.length) state.lastStep.set(t.meta.trial, Math.max(state.lastStep.get(t.meta.trial) || 0, t.x[t.x.length - 1]));
    }
    if (first && widePositive(c)) {
      c.logy = true;
      c.panel.querySelector('[data-control="logy"]').checked = true;
    }
    c.panel.querySelector("[data-legend]").innerHTML = legendHtml(c);
  }

  /* The chart's line styles by metric (colour is the trial's): train and validation curves
     of one trial share a colour, so the dash and the markers tell them apart, named here. */
  const DASHES = {dot: "2 3", dash: "6 3", dashdot: "6 3 2 3", longdash: "10 3"};
  function legendHtml(c) {
    return c.metrics.map((m) => {
      const t = c.templates[m] || {mode: "lines", line: {}};
      const dash = DASHES[(t.line || {}).dash];
      const marker = (t.mode || "").includes("markers") ? '<circle cx="14" cy="5" r="3"></circle>' : "";
      return '<span class="legend-item" data-metric="' + R.esc(m) + '"><svg width="28" height="10" aria-hidden="true">' +
        '<line x1="1" y1="5" x2="27" y2="5"' + (dash ? ' stroke-dasharray="' + dash + '"' : "") + "></line>" + marker + "</svg>" +
        R.esc(m) + "</span>";
    }).join("") + '<span class="muted">colour: trial</span>';
  }

  function chartLayout(c) {
    if (!c.layout) return null;
    const axis = {ticklabeloverflow: "allow"}; // "hide past div" measures every label per label
    return Object.assign({}, c.layout, {
      xaxis: Object.assign({}, c.layout.xaxis, axis),
      yaxis: Object.assign({}, c.layout.yaxis, axis, {type: c.logy ? "log" : "linear"}),
    });
  }

  function traceFor(c, s) {
    const tmpl = c.templates[s.metric] || {mode: "lines", line: {width: 1.5}};
    const trial = state.trials.get(s.trial);
    const number = trial ? trial.number : 0;
    const color = R.trialColor(number);
    const smooth = c.smooth && tmpl.mode === "lines";
    const trace = {
      // Copies: Plotly keeps the arrays it is given, and the chart appends to them.
      type: "scatter", mode: tmpl.mode, x: s.x.slice(), y: smooth ? R.ema(s.y, c.smooth) : s.y.slice(),
      name: "#" + number + " " + s.metric, uid: s.trial + ":" + s.metric,
      meta: {trial: s.trial, number, metric: s.metric},
      line: Object.assign({}, tmpl.line, {color}),
      hovertemplate: "trial " + number + " · " + s.metric + "<br>step %{x}<br>%{y:.4g}<extra></extra>",
      visible: !(c.hide && trial && R.FINISHED.has(trial.status)),
    };
    if (tmpl.marker) trace.marker = Object.assign({}, tmpl.marker, {color});
    return trace;
  }

  /* The highlighted trial (hovered, else selected): its lines wider, the others faded, by
     classes on the drawn SVG (static/css/rungs.css), marked again after every Plotly draw.
     Restyling the traces through Plotly took about 100 ms a click with 200 trials on the
     page (it computes every trace's defaults again); a class costs the browser a repaint. */
  function restyleHighlight() {
    for (const c of Object.values(charts)) markHighlight(c.chart.div);
  }

  function markHighlight(gd) {
    const hl = state.hovered !== null ? state.hovered : state.selected;
    gd.classList.toggle("highlighting", hl !== null);
    for (const g of gd.querySelectorAll(".scatterlayer .trace")) {
      const trace = g.__data__ && g.__data__[0] && g.__data__[0].trace;
      g.classList.toggle("hl", hl !== null && !!trace && !!trace.meta && trace.meta.trial === hl);
    }
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
    const all = Object.values(charts).map((c) => c.chart);
    const syncing = all.find((c) => c.wantsSync()); // one chart hands Plotly its points a draw
    drawing = Promise.all(all.map((c) => c.draw(c === syncing))).then(() => {
      if (t) {
        // Report -> drawn latency of the newest and the oldest point drawn (log time
        // against the clock once the lines hold them).
        const now = Date.now() / 1000;
        R.latency.push([now - t[0], now - t[1]]);
        if (R.latency.length > 10000) R.latency.shift();
      }
    }, (err) => console.error("drawing the curves failed", err)).then(() => {
      drawing = null;
      if (all.some((c) => c.wantsSync())) drawPending = true; // the next chart's turn
      if (drawPending) setTimeout(flushDraw, 0);
    });
  }

  function applyPoints(groups, tmax, tmin) {
    if (!groups || !groups.length) return;
    for (const g of groups) {
      const last = state.lastStep.get(g.t) || 0;
      state.lastStep.set(g.t, Math.max(last, g.s[g.s.length - 1]));
      stepsDirty.add(g.t);
      const c = metricChart[g.n];
      if (c) c.chart.append(g.t + ":" + g.n, g.s, g.v, {trial: g.t, metric: g.n});
    }
    scheduleDraw(tmax, tmin);
  }

  for (const c of Object.values(charts)) {
    const slider = c.panel.querySelector('[data-control="smooth"]');
    slider.addEventListener("input", () => {
      c.smooth = Number(slider.value);
      slider.nextElementSibling.textContent = slider.value;
      c.chart.redraw();
    });
    c.panel.querySelector('[data-control="logy"]').addEventListener("change", (ev) => { c.logy = ev.target.checked; c.chart.redraw(); });
    c.panel.querySelector('[data-control="hide"]').addEventListener("change", (ev) => { c.hide = ev.target.checked; c.chart.redraw(); });
  }

  function hookChartEvents() {
    for (const c of Object.values(charts)) {
      const div = c.chart.div;
      if (c.hooked || !div.on) continue;
      c.hooked = true;
      div.on("plotly_afterplot", () => markHighlight(div));
      div.on("plotly_click", (ev) => { const p = ev.points && ev.points[0]; if (p && p.data.meta) select(p.data.meta.trial); });
      div.on("plotly_hover", (ev) => { const p = ev.points && ev.points[0]; if (p && p.data.meta && state.hovered !== p.data.meta.trial) { state.hovered = p.data.meta.trial; restyleHighlight(); } });
      div.on("plotly_unhover", () => { if (state.hovered !== null) { state.hovered = null; restyleHighlight(); } });
    }
  }

  // --- selection -------------------------------------------------------------------------

  function select(trialId) {
    state.selected = state.selected === trialId ? null : trialId;
    bringCurves(state.selected);
    restyleHighlight();
    if (!window.RungsBracket.mark(bracketEl, state.selected)) renderBracket();
    document.querySelectorAll("#trials tr.selected").forEach((tr) => tr.classList.remove("selected"));
    if (state.selected !== null) {
      const row = document.querySelector('#trials tr[data-trial="' + state.selected + '"]');
      if (row) { row.classList.add("selected"); }
    }
  }

  /* A big sweep's page draws some trials' curves at first (the live ones and the best, as
     the note above the charts says); selecting another trial asks for its curves. */
  const asked = new Set();
  function bringCurves(trialId) {
    if (trialId === null || asked.has(trialId)) return;
    for (const c of Object.values(charts)) for (const s of c.chart.series.values()) if (s.trial === trialId) return;
    asked.add(trialId);
    socket.ask({action: "curves", trial: trialId}).then((reply) => {
      if (!reply.ok) { asked.delete(trialId); return; }
      for (const s of reply.series) {
        const c = metricChart[s.name];
        const key = s.trial + ":" + s.name;
        if (!c || c.chart.series.has(key)) continue; // its live points came first
        c.chart.set(key, {trial: s.trial, metric: s.name, x: s.step.slice(), y: s.value.slice()});
      }
      scheduleDraw();
    });
  }

  const count = (n) => n.toLocaleString("en-US"); // 10,000

  function renderCurvesNote(curves) {
    const note = document.getElementById("curves-note");
    note.hidden = !curves || curves.trials >= curves.of;
    if (!note.hidden) {
      note.textContent = "Curves of " + count(curves.trials) + " of " + count(curves.of) + " trials: the live ones and the best. " +
        "Select a trial (in the table, the bracket or through Find) to add its curves.";
    }
  }

  // --- bracket ---------------------------------------------------------------------------

  const bracketEl = document.getElementById("bracket");
  const openRungs = new Map(); // "bracket:rung" -> the whole rung a folded one was asked for
  function renderBracket() {
    window.RungsBracket.render(bracketEl, withOpenRungs(state.bracket), state.selected, select, unfoldRung);
    const note = document.getElementById("bracket-omitted");
    const left = state.bracket && state.bracket.omitted;
    note.hidden = !left || !left.brackets;
    if (left && left.brackets) {
      note.textContent = left.brackets + " more bracket" + (left.brackets === 1 ? "" : "s") + " (" + left.trials +
        " trials) not shown live: the ones with running trials, the best trial's and the newest are. Every trial is in the table below.";
    }
  }

  /* A big sweep's bracket comes folded by the server: the page asks for a rung whole when
     its "+ n more" is pressed, and keeps it whole across live updates. */
  function unfoldRung(bracket, rung, open) {
    const key = bracket + ":" + rung;
    if (!open) { openRungs.delete(key); renderBracket(); return; }
    socket.ask({action: "rung", bracket, rung}).then((reply) => {
      if (!reply.ok) { R.flash("could not unfold the rung — " + R.errorText(reply.errors), "error"); return; }
      openRungs.set(key, reply);
      renderBracket();
    });
  }

  function withOpenRungs(data) {
    if (!data || !data.brackets || !openRungs.size) return data;
    return Object.assign({}, data, {brackets: data.brackets.map((b) => {
      const open = b.rungs.filter((r) => openRungs.has(b.bracket + ":" + r.rung));
      if (!open.length) return b;
      const promotions = b.promotions.slice();
      const seen = new Set(promotions.map((p) => p.trial + ":" + p.from));
      const rungs = b.rungs.map((r) => {
        const reply = openRungs.get(b.bracket + ":" + r.rung);
        if (!reply) return r;
        for (const p of reply.promotions) if (!seen.has(p.trial + ":" + p.from)) { seen.add(p.trial + ":" + p.from); promotions.push(p); }
        return Object.assign({}, reply.rung, {opened: true});
      });
      return Object.assign({}, b, {rungs, promotions});
    })});
  }
  window.addEventListener("resize", () => window.RungsBracket.relink(bracketEl));

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
  // A big sweep's page starts with the rows worth watching; the rest come a page at a time.
  const more = document.getElementById("trials-more");
  let nextOffset = 0;
  function renderMore() {
    const total = state.sweep ? state.sweep.trials : rows.size;
    more.hidden = rows.size >= total;
    more.querySelector("[data-shown]").textContent = count(rows.size);
    more.querySelector("[data-total]").textContent = count(total);
  }
  more.querySelector("button").addEventListener("click", () => {
    socket.ask({action: "trials", offset: nextOffset, limit: 500}).then((reply) => {
      if (!reply.ok) { R.flash("could not load more trials — " + R.errorText(reply.errors), "error"); return; }
      nextOffset = reply.offset + reply.trials.length;
      applyTrials(reply.trials.filter((t) => !rows.has(t.id)), true);
      updateSteps();
      renderMore();
    });
  });

  /* Find: the server looks through every trial (a big sweep's table holds some of them),
     the rows it finds join the table and the others are hidden until the box is cleared. */
  const findBox = document.getElementById("trials-find");
  const foundNote = document.getElementById("trials-found");
  let foundIds = null; // the ids the search found, or null: every row shows
  let findTimer = null;
  findBox.addEventListener("input", () => { clearTimeout(findTimer); findTimer = setTimeout(runFind, 250); });
  function runFind() {
    const q = findBox.value.trim();
    if (!q) {
      foundIds = null;
      foundNote.textContent = "";
      for (const tr of rows.values()) tr.hidden = false;
      return;
    }
    socket.ask({action: "trials", q, limit: 500}).then((reply) => {
      if (findBox.value.trim() !== q) return; // a newer search is on its way
      if (!reply.ok) { foundNote.textContent = R.errorText(reply.errors); return; }
      foundIds = new Set(reply.trials.map((t) => t.id));
      applyTrials(reply.trials, true);
      for (const [id, tr] of rows) tr.hidden = !foundIds.has(id);
      updateSteps();
      renderMore();
      foundNote.textContent = reply.total === 0 ? "no trial found" : count(reply.total) + " found" +
        (reply.total > reply.trials.length ? " (the first " + count(reply.trials.length) + " shown)" : "");
    });
  }

  function paramsText(params) {
    return Object.entries(params || {}).map(([k, v]) => k + "=" + (typeof v === "number" ? R.fmt(v) : v)).join(", ");
  }

  /* A row's cells as HTML, one string each. */
  function rowCells(t) {
    const step = Math.max(t.step || 0, state.lastStep.get(t.id) || 0);
    const cells = [
      '<td><span class="swatch" style="background:' + R.trialColor(t.number) + '"></span>' +
        '<a href="/sweeps/' + SWEEP + "/trials/" + t.number + '/">' + t.number + "</a>" + (t.manual ? ' <span class="badge manual-badge" title="added by hand">hand</span>' : "") + "</td>",
      '<td class="params">' + R.esc(paramsText(t.params)) + "</td>",
      '<td><span class="status status-' + t.status + '">' + t.status + "</span></td>",
      "<td>" + t.bracket + " / " + t.rung + "</td>",
      '<td class="num">' + R.fmt(t.budget) + "</td>",
      '<td class="num">' + R.fmt(t.best_value) + "</td>",
      '<td class="num step">' + step + "</td>",
      "<td>" + R.esc(t.worker || "") + "</td>",
    ];
    if (CAN_STEER) cells.push('<td class="actions">' + R.actionButtons(t.actions, {small: true, trial: t.id}) + "</td>");
    return cells;
  }

  function upsertRow(t) {
    let tr = rows.get(t.id);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.trial = t.id;
      rows.set(t.id, tr);
      // Keep trial-number order: the first row with a larger number, by bisection.
      const kids = tbody.children;
      let lo = 0, hi = kids.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (Number(kids[mid].dataset.number) < t.number) lo = mid + 1; else hi = mid;
      }
      tr.dataset.number = t.number;
      tbody.insertBefore(tr, kids[lo] || null);
    }
    tr.hidden = foundIds !== null && !foundIds.has(t.id);
    tr.dataset.status = t.status;
    // Only the cells that changed are written: a live trial's row changes every second,
    // and a button written anew under the pointer loses the click.
    const cells = rowCells(t);
    if (!tr.cells.length) tr.innerHTML = cells.join("");
    else cells.forEach((html, i) => { if (tr.shown[i] !== html) tr.cells[i].outerHTML = html; });
    tr.shown = cells;
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

  /* Rows of a first message (``shown``) or a page of them get a table row; a live change
     does for a trial the table shows, a new one or a live one. A big sweep's table keeps
     its choice of rows: a change to all of them (their actions, when the sweep pauses)
     does not fill it with every trial. */
  function applyTrials(list, shown) {
    const all = !state.sweep || rows.size >= state.sweep.trials;
    for (const t of list) {
      const old = state.trials.get(t.id);
      state.trials.set(t.id, t);
      const fresh = t.number > state.newest; // the newest trials are always among the rows
      state.newest = Math.max(state.newest, t.number);
      if (shown || all || fresh || rows.has(t.id) || R.ACTIVE.has(t.status)) upsertRow(t);
      if (!old || old.status !== t.status) {
        // Hidden finished trials, and the x headroom kept only while trials are live.
        const ended = old && R.ACTIVE.has(old.status) && !R.ACTIVE.has(t.status);
        for (const c of Object.values(charts)) if (c.hide || ended) c.chart.redraw();
      }
    }
  }

  // --- steering --------------------------------------------------------------------------

  let socket = null;
  function steer(message, what, done = "done") {
    return socket.ask(message).then((reply) => {
      if (reply.ok) R.flash(what + ": " + done, "ok");
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
    document.getElementById("final-evaluation-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const number = Number(ev.target.trial_number.value);
      if (!confirm("Evaluate trial " + number + " on the test set? This is allowed once per sweep.")) return;
      steer({action: "final_evaluation", trial_number: number}, "final evaluation", "asked; a worker evaluates it").then((reply) => {
        if (reply.ok) followFinalEvaluation();
      });
    });
    document.getElementById("sweep-update").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const f = ev.target;
      steer({action: "update_sweep", concurrency: Number(f.concurrency.value), max_trials: Number(f.max_trials.value)}, "update sweep");
    });
  }

  /* The sweep's one look at its test set, at the top of the page; the form's trial number
     starts at the best trial. */
  function renderFinalEvaluation(f, best) {
    const box = document.getElementById("final-evaluation");
    box.hidden = !f;
    if (f) {
      const when = new Date(f.created_at).toLocaleString();
      const metrics = Object.entries(f.metrics || {}).filter(([k]) => k !== "test_examples")
        .map(([k, v]) => "<b>" + R.esc(k) + "</b> " + R.fmt(v)).join(" · ");
      const result = f.status === "done" ? metrics : f.status === "failed" ? '<span class="error">failed: ' + R.esc(f.error) + "</span>" : R.esc(f.status) + "…";
      box.innerHTML = "Final evaluation on the test set (once per sweep): trial " + f.trial + " — " + result +
        '<span class="muted"> · asked by ' + R.esc(f.user || "rungs") + " on " + R.esc(when) + "</span>";
    }
    const input = document.querySelector("#final-evaluation-form input[name=trial_number]");
    if (input && !input.value && best) input.value = best.number;
  }

  /* After the request, read the sweep until a worker has the test metrics (or failed). */
  function followFinalEvaluation() {
    fetch("/api/sweeps/" + SWEEP + "/", {credentials: "same-origin"}).then((r) => r.json()).then((s) => {
      renderFinalEvaluation(s.final_evaluation, null);
      if (s.final_evaluation && ["queued", "running"].includes(s.final_evaluation.status)) setTimeout(followFinalEvaluation, 1000);
    }).catch(() => setTimeout(followFinalEvaluation, 2000));
  }
  renderFinalEvaluation(JSON.parse(document.getElementById("final-evaluation-data").textContent), (snapshot.sweep || {}).best);

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

  // The panels sit below the fold: each is drawn once they come near the window, and again
  // only when it changed (a big sweep's panels come one a message). The parallel
  // coordinates of a big sweep (WebGL) cost seconds, which a first draw must not wait for.
  const PANELS = {history_number: "history", history_time: "history", parallel: "parallel", importance: "importance"};
  const stalePanels = new Set();
  let panelsNear = false;
  new IntersectionObserver((entries) => {
    panelsNear = entries[entries.length - 1].isIntersecting;
    drawPanels();
  }, {rootMargin: "300px 0px"}).observe(document.querySelector("section.analytics"));

  function drawPanels() {
    const a = state.analytics;
    if (!a || !panelsNear) return;
    const cfg = {responsive: true, displaylogo: false};
    const hist = state.historyX === "time" ? a.history_time : a.history_number;
    if (stalePanels.has("history") && hist) Plotly.react("chart-history", hist.data, hist.layout, cfg);
    if (stalePanels.has("parallel") && a.parallel) Plotly.react("chart-parallel", a.parallel.data, a.parallel.layout, cfg);
    if (stalePanels.has("importance") && a.importance) Plotly.react("chart-importance", a.importance.data, a.importance.layout, cfg);
    stalePanels.clear();
  }

  /* ``keys``: the analytics fields that changed (all of them when not given). */
  function renderAnalytics(keys) {
    const a = state.analytics;
    if (!a) return;
    for (const key of keys || Object.keys(PANELS)) if (PANELS[key]) stalePanels.add(PANELS[key]);
    drawPanels();
    const sur = a.surrogate;
    if (!sur) return;
    const panel = document.getElementById("surrogate-panel");
    const select = document.getElementById("surrogate-param");
    panel.dataset.available = sur.available ? "1" : "0";
    // One line until it is used: the figure shows once asked for.
    if (!sur.available) {
      document.getElementById("surrogate-controls").hidden = true;
      document.getElementById("chart-surrogate").hidden = true;
      document.getElementById("surrogate-note").innerHTML = "<b>Explain: not available.</b> " + R.esc(sur.reason);
    } else if (!select.options.length) {
      select.innerHTML = sur.params.map((p) => '<option value="' + R.esc(p) + '">' + R.esc(p) + "</option>").join("");
    }
  }
  document.querySelectorAll('input[name="history-x"]').forEach((r) => r.addEventListener("change", () => {
    state.historyX = r.value;
    renderAnalytics(["history_number"]);
  }));
  document.getElementById("surrogate-go").addEventListener("click", () => {
    const param = document.getElementById("surrogate-param").value;
    document.getElementById("surrogate-note").textContent = "fitting…";
    socket.ask({action: "surrogate", param}).then((reply) => {
      if (!reply.ok) { document.getElementById("surrogate-note").textContent = "Not available yet: " + R.errorText(reply.errors); return; }
      document.getElementById("surrogate-note").textContent = "";
      document.getElementById("chart-surrogate").hidden = false;
      Plotly.react("chart-surrogate", reply.figure.data, reply.figure.layout, {responsive: true, displaylogo: false});
    });
  });

  // --- events ----------------------------------------------------------------------------

  const eventsEl = document.getElementById("events");
  const shownEvents = new Set();

  /* An ISO time on the reader's own clock (HH:MM:SS), the full local date and time in its
     title. */
  function localTime(iso) {
    const d = new Date(iso);
    if (!iso || isNaN(d)) return {time: "", full: ""};
    const p = (n) => String(n).padStart(2, "0");
    const time = p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
    return {time, full: d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + time};
  }

  function applyEvents(list) {
    for (const e of list) {
      if (shownEvents.has(e.id)) continue; // a resume snapshot repeats the newest events
      shownEvents.add(e.id);
      const li = document.createElement("li");
      const at = localTime(e.created_at);
      li.innerHTML = '<time class="muted" datetime="' + R.esc(e.created_at || "") + '" title="' + at.full + '">' + at.time + "</time> <b>" + R.esc(e.user || "rungs") + "</b> " +
        R.esc(e.kind) + (e.trial_number ? " · trial " + e.trial_number : "") + ' <span class="muted">' + R.esc(e.message) + "</span>";
      eventsEl.prepend(li);
    }
    while (eventsEl.children.length > 200) eventsEl.lastChild.remove();
  }

  // --- messages --------------------------------------------------------------------------

  function applyState(msg) {
    if (msg.trials) applyTrials(msg.trials, msg.type === "snapshot" || msg.part === "snapshot");
    if (msg.sweep) { state.sweep = msg.sweep; renderSweep(); buildEnqueueForm(msg.sweep.space); }
    if (msg.trials || msg.sweep) renderMore();
    if (msg.bracket) { state.bracket = msg.bracket; renderBracket(); }
    if (msg.events) applyEvents(msg.events);
    if (msg.analytics) { state.analytics = msg.analytics; renderAnalytics(); }
  }

  function onMessage(msg) {
    if (msg.type === "snapshot") {
      if (msg.full) {
        for (const [key, chart] of Object.entries(charts)) if (msg.figures && msg.figures[key]) initChart(chart, msg.figures[key]);
        renderCurvesNote(msg.curves);
        asked.clear();
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
      state.analytics = msg.partial ? Object.assign({}, state.analytics, msg) : msg;
      renderAnalytics(msg.partial ? Object.keys(msg) : null);
    } else if (msg.type === "reload") {
      // The server could not send what this page needs within the socket's limit: a fresh
      // page starts from a smaller view. Reconnecting would only meet the same message.
      socket.close();
      const live = document.getElementById("live");
      live.textContent = "stopped";
      live.className = "live off";
      const box = document.getElementById("reload-notice");
      box.hidden = false;
      box.querySelector("[data-reload]").onclick = () => location.reload();
      box.querySelector("[data-detail]").textContent = "(" + (msg.bytes / 1e6).toFixed(1) + " MB, over the " + (msg.cap / 1e6).toFixed(1) + " MB limit)";
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
