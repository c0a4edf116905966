/* Rungs live pages: the socket (resume by cursor), colours, smoothing, small helpers. */
"use strict";

(function () {
  // What the server says about statuses and actions (dashboard.views.page_meta): this file
  // restates none of it.
  const META = JSON.parse(document.getElementById("rungs-meta").textContent);
  const FINISHED = new Set(META.statuses.finished);
  const ACTIVE = new Set(META.statuses.active);
  const received = []; // [newest, oldest] report -> received latency per increment

  /* Same formula as dashboard.plots.trial_color. */
  function trialColor(number) {
    return "hsl(" + ((number * 137.508) % 360).toFixed(1) + ", 65%, 45%)";
  }

  /* Exponential moving average with TensorBoard's debiasing; null stays null. */
  function ema(values, weight) {
    if (!weight) return values;
    const out = new Array(values.length);
    let last = 0, n = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || !isFinite(v)) { out[i] = null; continue; }
      last = last * weight + (1 - weight) * v;
      n += 1;
      out[i] = last / (1 - Math.pow(weight, n));
    }
    return out;
  }

  function fmt(v, digits) {
    if (v === null || v === undefined) return "—";
    if (typeof v !== "number") return String(v);
    if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
    return Number(v.toPrecision(digits || 4)).toString();
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  }

  function flash(text, kind) {
    const box = document.getElementById("flash");
    if (!box) return;
    const item = document.createElement("div");
    item.className = "flash-item " + (kind || "info");
    item.textContent = text;
    box.prepend(item);
    while (box.children.length > 4) box.lastChild.remove();
    setTimeout(() => item.remove(), kind === "error" ? 12000 : 5000);
  }

  function errorText(errors) {
    return Object.entries(errors || {}).map(([k, v]) => k + ": " + v).join("; ");
  }

  /* A socket that resumes where it left off: every reconnect sends the last cursor, so the
     page gets exactly the points it missed. onMessage gets every parsed message. */
  function connect(opts) {
    const state = {cursor: opts.cursor, ws: null, closed: false, backoff: 250, refs: new Map(), nextRef: 1};
    const live = document.getElementById("live");

    function setLive(text, cls) {
      if (!live) return;
      live.textContent = text;
      live.className = "live " + (cls || "");
    }

    function url() {
      const proto = location.protocol === "https:" ? "wss://" : "ws://";
      const q = new URLSearchParams();
      if (state.cursor !== null && state.cursor !== undefined) q.set("cursor", state.cursor);
      if (opts.trial) q.set("trial", opts.trial);
      return proto + location.host + "/ws/sweeps/" + opts.sweep + "/?" + q.toString();
    }

    function open() {
      const ws = new WebSocket(url());
      state.ws = ws;
      ws.onopen = () => { state.backoff = 250; setLive("live", "on"); };
      ws.onmessage = (ev) => {
        const msg = JSON.parse(ev.data);
        if (msg.type === "inc" && msg.tmax) {
          // Report -> received latency (newest, oldest point): with R.latency (drawn) it
          // tells the wire from the drawing.
          const now = Date.now() / 1000;
          received.push([now - msg.tmax, now - msg.tmin]);
          if (received.length > 10000) received.shift();
        }
        if (msg.cursor !== undefined && (msg.type === "snapshot" || msg.type === "inc")) {
          state.cursor = msg.cursor;
        }
        if ((msg.type === "reply" || msg.type === "error") && state.refs.has(msg.ref)) {
          const done = state.refs.get(msg.ref);
          state.refs.delete(msg.ref);
          done(msg);
        }
        opts.onMessage(msg);
      };
      ws.onclose = (ev) => {
        if (state.closed) return;
        if (ev.code === 4403 || ev.code === 4404) { setLive("no access", "off"); return; }
        setLive("reconnecting…", "off");
        setTimeout(open, state.backoff);
        state.backoff = Math.min(state.backoff * 2, 5000);
      };
    }

    open();
    return {
      state,
      /* Send a message; resolves with its reply or error message. */
      ask(message) {
        const ref = state.nextRef++;
        return new Promise((resolve) => {
          state.refs.set(ref, resolve);
          if (!state.ws || state.ws.readyState !== 1) {
            state.refs.delete(ref);
            resolve({type: "error", ok: false, errors: {connection: "not connected; try again in a moment"}});
            return;
          }
          state.ws.send(JSON.stringify(Object.assign({ref}, message)));
        });
      },
      close() { state.closed = true; if (state.ws) state.ws.close(); },
    };
  }

  /* A test of whether a value lies inside an axis' current view. */
  function inView(ax) {
    const a = ax.r2l(ax.range[0]), b = ax.r2l(ax.range[1]);
    const lo = Math.min(a, b), hi = Math.max(a, b);
    return (v) => { const l = ax.d2l(v); return l >= lo && l <= hi; };
  }

  /* Whether every value lies inside an axis' current view (an axis the user zoomed keeps
     its view whatever arrives, so anything fits it). Null values draw nothing. */
  function fitsAxis(ax, arrays) {
    if (!ax || !ax.range) return false;
    if (!ax.autorange) return true;
    const inside = inView(ax);
    return arrays.every((values) => values.every((v) => v === null || v === undefined || inside(v)));
  }

  /* Appends points to traces of a drawn figure without redrawing it. Plotly.extendTraces
     and Plotly.react redraw the whole figure (defaults, axes, tick labels: about 10 ms a
     chart on this machine's loaded cores, however few points are new). When the new points
     lie inside the axes' current ranges no axis changes, so Plotly.animate with no redraw
     computes and draws only the changed traces. Returns a promise that settles once Plotly
     has drawn them, or null when the figure needs a full redraw instead (a point outside
     the view, or no figure yet); on null nothing was changed. */
  function appendInPlace(gd, indices, xs, ys) {
    const layout = gd._fullLayout;
    if (!layout || !gd._transitionData || !gd.data) return null;
    if (indices.some((i) => !gd.data[i] || !Array.isArray(gd.data[i].x) || !Array.isArray(gd.data[i].y))) return null;
    if (!fitsAxis(layout.xaxis, xs) || !fitsAxis(layout.yaxis, ys)) return null;
    const data = indices.map((i, k) => {
      const trace = gd.data[i];
      for (let j = 0; j < xs[k].length; j++) { trace.x.push(xs[k][j]); trace.y.push(ys[k][j]); }
      return {x: trace.x, y: trace.y};
    });
    return new Promise((resolve) => {
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        gd.removeListener("plotly_transitioned", done);
        resolve();
      };
      // The transition's end is when its traces are drawn; animate's own promise waits
      // for the next animation frame on top.
      gd.on("plotly_transitioned", done);
      Plotly.animate(gd, {data, traces: indices}, {transition: {duration: 0}, frame: {duration: 0, redraw: false}}).then(done, done);
    });
  }

  /* The quickest way to show new points: extend each trace's drawn line (its SVG path) to
     the pixels Plotly's axes give them, without Plotly computing anything (about 0.1 ms a
     chart, where Plotly.animate takes 10). After a Plotly redraw that did not compute them
     (a new axis range, a resize), the line is extended from the last point Plotly
     computed, so earlier extensions are drawn again. Only for plain lines (no markers, fill
     or gap) whose new points, and the last point Plotly computed, lie inside the view;
     otherwise returns false and changes nothing. The points join the figure's data, but
     Plotly's own state (what hover finds) only takes them at its next computing draw: a
     caller follows up with one (appendInPlace, indices and no new points) later. */
  const extended = new WeakMap(); // a line's path -> the d last set here
  function extendLines(gd, indices, xs, ys) {
    const layout = gd._fullLayout;
    if (!layout || !gd._fullData || !gd.data || !gd.calcdata) return false;
    const xa = layout.xaxis, ya = layout.yaxis;
    if (!xa || !ya || !xa.range || !ya.range) return false;
    const inX = inView(xa), inY = inView(ya);
    const finite = (v) => typeof v === "number" && isFinite(v);
    const inside = (x, y) => finite(x) && finite(y) && inX(x) && inY(y);
    const groups = new Map();
    for (const g of gd.querySelectorAll(".scatterlayer .trace")) {
      const bound = g.__data__;
      if (bound && bound[0] && bound[0].trace) groups.set(bound[0].trace.index, g);
    }
    const edits = [];
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k], trace = gd.data[i], full = gd._fullData[i], g = groups.get(i);
      if (!trace || !full || !g || full.visible !== true || full.mode !== "lines") return false;
      if (full.fill !== "none" || full.line.shape !== "linear") return false;
      if (!Array.isArray(trace.x) || !Array.isArray(trace.y) || !gd.calcdata[i]) return false;
      const from = gd.calcdata[i].length; // the points Plotly computed and drew
      if (!from || from > trace.x.length) return false;
      for (let j = from - 1; j < trace.x.length; j++) if (!inside(trace.x[j], trace.y[j])) return false;
      if (!xs[k].every((x, j) => inside(x, ys[k][j]))) return false;
      const lines = g.querySelectorAll("path.js-line");
      if (!lines.length) return false;
      edits.push([trace, from, lines[lines.length - 1], xs[k], ys[k]]);
    }
    const px = (ax, v) => Math.round(ax.c2p(ax.d2c(v)) * 100) / 100;
    for (const [trace, from, line, x, y] of edits) {
      for (let j = 0; j < x.length; j++) { trace.x.push(x[j]); trace.y.push(y[j]); }
      // Our own line last: add the new points; else Plotly's: add all it has not computed.
      let d = line.getAttribute("d");
      const mine = extended.get(line) === d;
      for (let j = mine ? trace.x.length - x.length : from; j < trace.x.length; j++) {
        d += "L" + px(xa, trace.x[j]) + "," + px(ya, trace.y[j]);
      }
      line.setAttribute("d", d);
      extended.set(line, d);
    }
    return true;
  }

  /* Appends points to a series store: {x: [], y: []}. A step at or below the last one
     (a segment re-run after a lost worker) replaces the tail, so a curve never folds back. */
  function appendPoints(series, steps, values) {
    let truncated = false;
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i];
      const n = series.x.length;
      if (n && s <= series.x[n - 1]) {
        let k = n;
        while (k > 0 && series.x[k - 1] >= s) k--;
        series.x.length = k;
        series.y.length = k;
        truncated = true;
      }
      series.x.push(s);
      series.y.push(values[i]);
    }
    return truncated;
  }

  /* Buttons for the actions a row allows now (its ``actions``, from the server). Actions whose
     body must be filled in have their own form (see ``offer``). */
  function actionButtons(names, extra) {
    return (names || []).filter((n) => META.actions[n] && !META.actions[n].form).map((n) => {
      const a = META.actions[n];
      return '<button type="button" class="' + (extra.small ? "small" : "") + (a.danger ? " danger" : "") + '" data-action="' + esc(n) + '"' +
        (extra.trial ? ' data-trial="' + extra.trial + '"' : "") + ">" + esc(a.label) + "</button>";
    }).join("");
  }

  /* Shows the elements under ``root`` marked ``data-offer="<action>"`` only while the row
     allows that action. */
  function offer(root, names) {
    root.querySelectorAll("[data-offer]").forEach((el) => { el.hidden = !(names || []).includes(el.dataset.offer); });
  }

  const actionLabel = (name) => (META.actions[name] ? META.actions[name].label : name);

  window.Rungs = {FINISHED, ACTIVE, trialColor, ema, fmt, esc, flash, errorText, connect, appendPoints, appendInPlace, extendLines, actionButtons, offer, actionLabel, latency: [], received};
})();
