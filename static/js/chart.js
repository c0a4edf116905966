/* One live chart: a Plotly figure whose series grow as points arrive. ``append`` stores
   points and ``redraw`` asks for a full redraw; ``draw`` (called by the page, one draw at a
   time) shows what changed the cheapest way it can: extending the drawn SVG lines, else
   Plotly drawing only the changed traces, else Plotly computing the figure again. The page
   says what a trace looks like; the chart keeps the x range, the user's zoom and Plotly's
   own state in step. */
"use strict";

(function () {
  /* The plotly.js this file was written against. Besides Plotly's public API (react,
     relayout, animate, gd.on / removeListener, gd.data) it reads Plotly's internals:
       gd._fullLayout.xaxis / .yaxis: range, autorange, type and the axis converters
         r2l, d2l, d2c, c2p;
       gd._fullData[i]: visible, mode, fill, line.shape (the trace with defaults applied);
       gd.calcdata[i].length: how many points Plotly computed and drew;
       gd._transitionData: present once Plotly.animate can run on the figure;
       the drawn SVG: ".scatterlayer .trace" groups with the d3-bound __data__[0].trace.index
         and their "path.js-line" whose d attribute is extended here.
     tests/dashboard/test_plotly_pin.py fails when the plotly.js shipped differs: check each
     of these against the new version, then move the pin. */
  const PLOTLY_VERSION = "4.1.1";
  if (window.Plotly && Plotly.version !== PLOTLY_VERSION) {
    console.warn("Rungs' live charts were written against plotly.js " + PLOTLY_VERSION + ", not " + Plotly.version);
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

  /* The x range the chart keeps (unless the user zoomed): from 0 to the last step and,
     while a series is live, past it by a quarter of the span or by what the curves grew in
     the last HEADROOM_S seconds (at most the span again), so that the next points land
     inside the view and are drawn without Plotly computing anything: a fast trainer would
     otherwise cost a redraw every few hundred milliseconds. */
  const HEADROOM_S = 5;
  /* Points drawn by extendLines reach Plotly's own state (what hover finds) with a Plotly
     draw of their traces: at once when the pointer enters the chart or Plotly redrew it
     (zoom, resize), each second while the pointer is on it, else every ten seconds; one
     chart a draw (each takes the page about 15 ms, in which it reads nothing new). */
  const SYNC_MS = 1000, IDLE_SYNC_MS = 10000;
  /* What a chart without a point says (dashboard.plots.NO_POINTS says the same), on bare
     axes: ticks around nothing read as data. */
  const NO_POINTS = {text: "no points yet", name: "no-points", xref: "paper", yref: "paper", x: 0.5, y: 0.5,
    showarrow: false, font: {size: 13, color: "#6b7280"}};
  const BARE_AXIS = {showticklabels: false, showgrid: false, zeroline: false};

  /* A live chart in ``div``. ``opts``:
       trace(series) -> a Plotly trace of one series (a copy of its arrays: Plotly keeps the
         arrays it is given, and the chart appends to them);
       layout() -> the figure's layout (null: nothing to draw yet); the chart sets its x range;
       order(a, b): the traces' order, a comparison of two series (default: as added);
       live(series) -> whether points still arrive on it (the x range's headroom);
       raw() -> whether traces show the series' values as they are (not smoothed), so
         appended points can be drawn as they come (default: yes);
       request(): ask the page for a draw (default: draw at once). */
  function Chart(div, opts) {
    const series = new Map(); // key -> {x, y, ...what the page keeps with it}
    let order = []; // keys in trace order as drawn
    let full = true, appends = new Map();
    let unsynced = new Set(), sync = false, syncTimer = null, pointer = false;
    let reachSeen = null; // [time, last step, end] when the range last grew
    let userX = false; // the user zoomed or panned x: keep their view
    let hooked = false;
    let drawnEmpty = false; // the last full draw had no point: the first points redraw it
    const live = opts.live || (() => false);
    const raw = opts.raw || (() => true);

    function request() {
      if (opts.request) opts.request();
      else chart.draw(true);
    }

    /* Null without points. */
    function xRange() {
      let lo = Infinity, hi = -Infinity, active = false;
      for (const s of series.values()) {
        if (!s.x.length) continue;
        lo = Math.min(lo, s.x[0]);
        hi = Math.max(hi, s.x[s.x.length - 1]);
        if (live(s)) active = true;
      }
      if (hi === -Infinity) return null;
      const x0 = Math.min(lo, 0), span = hi - x0, now = performance.now();
      if (!active) return [x0, Math.max(hi, x0 + 1)];
      const seen = reachSeen;
      if (seen && seen[2] > hi) return [x0, seen[2]]; // steady until the points reach its end
      let ahead = Math.max(20, 0.25 * span);
      if (seen && hi > seen[1] && now > seen[0]) {
        const rate = (hi - seen[1]) / ((now - seen[0]) / 1000);
        ahead = Math.max(ahead, Math.min(rate * HEADROOM_S, span));
      }
      reachSeen = [now, hi, hi + ahead];
      return [x0, hi + ahead];
    }

    /* New points past the end of the chart's x range: widen it (Plotly redraws axes and
       lines from what it computed, about 2 ms, against 15–40 for a full redraw). */
    function stretchX(xs) {
      const xa = div._fullLayout && div._fullLayout.xaxis;
      if (userX || !xa || xa.autorange || xa.type !== "linear") return false;
      const top = Math.max(...xs.map((x) => (x.length ? x[x.length - 1] : -Infinity)));
      if (!(top > xa.range[1])) return false;
      const range = xRange();
      if (!range || range[1] < top) return false;
      Plotly.relayout(div, {"xaxis.range": range}); // draws at once (a promise for events)
      return true;
    }

    function drawnOutsidePlotly(indices) {
      for (const i of indices) unsynced.add(i);
      if (syncTimer) return;
      syncTimer = setTimeout(syncNow, pointer ? SYNC_MS : IDLE_SYNC_MS);
    }

    function syncNow() {
      clearTimeout(syncTimer);
      syncTimer = null;
      if (!unsynced.size) return;
      sync = true;
      request();
    }

    function hook() {
      if (hooked || !div.on) return;
      hooked = true;
      // A zoom or pan reports "xaxis.range[0]"; the chart's own ranges come as "xaxis.range"
      // (stretchX, after which the lines are extended again). A double click autoranges.
      div.on("plotly_relayout", (ev) => {
        if ("xaxis.range" in ev) return;
        if (ev["xaxis.autorange"]) { userX = false; chart.redraw(); }
        else if ("xaxis.range[0]" in ev) userX = true;
        syncNow();
      });
    }
    div.addEventListener("mouseenter", () => { pointer = true; syncNow(); });
    div.addEventListener("mouseleave", () => { pointer = false; });

    function fullDraw(keys) {
      const base = opts.layout();
      if (!base) return Promise.resolve(); // no figure yet: nothing to draw on
      full = sync = false;
      unsynced.clear();
      order = keys;
      const layout = Object.assign({}, base);
      const range = userX ? null : xRange();
      if (range) layout.xaxis = Object.assign({}, layout.xaxis, {range, autorange: false});
      drawnEmpty = !keys.some((k) => series.get(k).x.length);
      if (drawnEmpty) {
        layout.annotations = (layout.annotations || []).concat([NO_POINTS]);
        layout.xaxis = Object.assign({}, layout.xaxis, BARE_AXIS);
        layout.yaxis = Object.assign({}, layout.yaxis, BARE_AXIS);
      }
      const traces = keys.map((k) => opts.trace(series.get(k)));
      const drawn = Plotly.react(div, traces, layout, {responsive: true, displaylogo: false});
      hook();
      return drawn;
    }

    const chart = {
      div,
      series,
      /* Forget every series (a full snapshot follows). */
      clear() { series.clear(); full = true; },
      /* Sets a series to ``s`` ({x, y, ...}), as it is. */
      set(key, s) { series.set(key, s); full = true; },
      /* Appends points to series ``key`` (made from ``fields`` if new); drawn at the next
         draw. A step at or below the last one replaces the tail (see appendPoints). */
      append(key, steps, values, fields) {
        let s = series.get(key);
        if (!s) {
          s = Object.assign({x: [], y: []}, fields);
          series.set(key, s);
          full = true;
        }
        if (appendPoints(s, steps, values)) full = true;
        let pts = appends.get(key);
        if (!pts) { pts = {x: [], y: []}; appends.set(key, pts); }
        pts.x.push(...steps);
        pts.y.push(...values);
      },
      /* The next draw computes the figure again (a style, a setting or the traces changed). */
      redraw() { full = true; request(); },
      /* Whether the chart waits for its turn to hand Plotly the points drawn outside it. */
      wantsSync() { return sync; },
      /* Draws what changed since the last draw; ``canSync``: this draw may be the one that
         hands Plotly the points drawn outside it. A promise that settles once drawn. */
      draw(canSync) {
        const syncing = sync && canSync;
        if (drawnEmpty && appends.size) full = true; // take the "no points yet" away
        if (!full && !appends.size && !syncing) return Promise.resolve();
        const keys = Array.from(series.keys());
        if (opts.order) keys.sort((a, b) => opts.order(series.get(a), series.get(b)));
        const sameOrder = !full && keys.length === order.length && keys.every((k, i) => k === order[i]);
        const pending = appends;
        appends = new Map();
        if (!sameOrder || !raw()) return fullDraw(keys);
        // Pure appends inside the view: extend the drawn lines, or let Plotly draw only the
        // changed traces (and those extended since its last draw). Otherwise (a point
        // outside the view) redraw the figure from the series, which hold the appends too.
        const idx = [], xs = [], ys = [];
        for (const [key, pts] of pending) {
          idx.push(order.indexOf(key));
          xs.push(pts.x);
          ys.push(pts.y);
        }
        const withUnsynced = () => {
          for (const i of unsynced) if (!idx.includes(i)) { idx.push(i); xs.push([]); ys.push([]); }
        };
        // Past the x range: widen it first; Plotly then redrew the lines from what it had
        // computed, so those drawn outside it are extended again too.
        if (idx.length && stretchX(xs)) withUnsynced();
        if (!syncing && idx.length && extendLines(div, idx, xs, ys)) {
          drawnOutsidePlotly(idx);
          return Promise.resolve();
        }
        withUnsynced();
        const drawn = idx.length ? appendInPlace(div, idx, xs, ys) : null;
        if (drawn) {
          sync = false;
          unsynced.clear();
          return drawn;
        }
        return fullDraw(keys);
      },
    };
    return chart;
  }

  Chart.PLOTLY_VERSION = PLOTLY_VERSION;
  Object.assign(window.Rungs, {Chart, appendPoints, appendInPlace, extendLines});
})();
