/* Rungs live pages: the socket (resume by cursor), colours, smoothing, small helpers. */
"use strict";

(function () {
  const FINISHED = new Set(["stopped", "completed", "killed", "failed", "diverged"]);
  const ACTIVE = new Set(["pending", "running", "waiting", "paused"]);

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

  window.Rungs = {FINISHED, ACTIVE, trialColor, ema, fmt, esc, flash, errorText, connect, appendPoints, latency: []};
})();
