/* LR range test pages: the form that asks for a test, and a test's curve (smoothed loss
   against a log learning rate) with its suggested range, re-read while the test runs. */
"use strict";

(function () {
  function csrf() {
    const input = document.querySelector("[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  const fmt = (v) => Number(v).toPrecision(3).replace(/\.?0+(e|$)/, "$1");

  // --- the form -----------------------------------------------------------------------------
  const form = document.getElementById("lr-range-form");
  if (form) {
    fetch("/api/trainers/", {credentials: "same-origin"})
      .then((r) => (r.ok ? r.json() : []))
      .then((trainers) => {
        const list = document.getElementById("lr-trainers");
        for (const t of trainers) {
          const option = document.createElement("option");
          option.value = t.key;
          option.textContent = t.description || t.key;
          list.appendChild(option);
        }
      })
      .catch(() => {});
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const box = document.getElementById("lr-errors");
      const value = (name) => form.elements[name].value.trim();
      let params;
      try {
        params = JSON.parse(value("params") || "{}");
      } catch (err) {
        box.hidden = false;
        box.textContent = "params: not valid JSON (" + err.message + ")";
        return;
      }
      const body = {trainer: value("trainer"), params, low: Number(value("low")),
                    high: Number(value("high")), steps: Number(value("steps"))};
      fetch("/api/lr-range-tests/", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
        body: JSON.stringify(body),
      }).then(async (r) => {
        const answer = await r.json();
        if (r.ok) { window.location = "/lr-range-tests/" + answer.id + "/"; return; }
        box.hidden = false;
        box.textContent = Object.entries(answer.errors || {detail: answer.detail})
          .map(([field, rule]) => field + ": " + rule).join("\n");
      });
    });
  }

  // --- one test -----------------------------------------------------------------------------
  const page = document.getElementById("lr-range-page");
  if (!page) return;
  let test = JSON.parse(document.getElementById("lr-test").textContent);

  function draw() {
    const status = document.getElementById("lr-status");
    status.textContent = test.status;
    status.className = "status status-" + test.status;
    page.dataset.status = test.status;
    document.getElementById("lr-stopped").textContent = test.stopped ? "Stopped: " + test.stopped + "." : "";
    document.getElementById("lr-rules").textContent = test.rules;
    const error = document.getElementById("lr-error");
    error.hidden = !test.error;
    error.textContent = test.error;
    const curve = test.curve || {};
    if (!curve.lr || !curve.lr.length) return;
    const shapes = [];
    const s = test.suggested;
    if (s) {
      shapes.push({type: "rect", xref: "x", yref: "paper", x0: s.low, x1: s.high, y0: 0, y1: 1,
                   fillcolor: "rgba(16,185,129,0.15)", line: {width: 0}});
      document.getElementById("lr-suggested").hidden = false;
      document.getElementById("lr-range-text").textContent = fmt(s.low) + " to " + fmt(s.high);
      document.getElementById("lr-snippet").textContent =
        "lr: {type: float, low: " + fmt(s.low) + ", high: " + fmt(s.high) + ", log: true}";
      const q = new URLSearchParams({trainer: test.trainer, lr_low: fmt(s.low), lr_high: fmt(s.high)});
      document.getElementById("lr-use").href = "/sweeps/new/?" + q.toString();
    }
    const finite = (ys) => ys.filter((v) => v !== null && isFinite(v));
    // From the lowest raw loss to 4x the smoothed minimum: the blow-up would flatten the rest.
    const bottom = Math.min(...finite(curve.loss), ...finite(curve.smoothed));
    const smoothed = finite(curve.smoothed);
    const top = Math.min(Math.max(...smoothed), 4 * Math.min(...smoothed));
    Plotly.react("lr-plot", [
      {x: curve.lr, y: curve.loss, name: "loss", mode: "lines", line: {color: "#cbd5e1", width: 1}},
      {x: curve.lr, y: curve.smoothed, name: "smoothed loss", mode: "lines", line: {color: "#2563eb", width: 2}},
    ], {
      template: "plotly_white", height: 420, margin: {l: 60, r: 20, t: 20, b: 50}, shapes,
      xaxis: {type: "log", title: {text: "learning rate (log scale)"}, exponentformat: "power"},
      yaxis: {title: {text: "training loss"}, range: [bottom - 0.05 * (top - bottom), top * 1.05]},
      legend: {orientation: "h", y: 1.08},
    }, {displaylogo: false, responsive: true});
  }

  function poll() {
    if (test.status !== "queued" && test.status !== "running") return;
    setTimeout(() => {
      fetch("/api/lr-range-tests/" + test.id + "/", {credentials: "same-origin"})
        .then((r) => r.json()).then((t) => { test = t; draw(); poll(); })
        .catch(poll);
    }, 1000);
  }
  draw();
  poll();
})();
