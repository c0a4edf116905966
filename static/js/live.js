/* Rungs live pages: the socket (resume by cursor), colours, smoothing, small helpers. The
   live charts are chart.js. */
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

  window.Rungs = {FINISHED, ACTIVE, trialColor, ema, fmt, esc, flash, errorText, connect, actionButtons, offer, actionLabel, latency: [], received};
})();
