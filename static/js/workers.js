/* The Workers page: one row per worker process (dashboard/views.py worker_list). The first
   rows come embedded in the page; the table then re-reads /api/workers/ every couple of
   seconds, the rate workers beat at. */
"use strict";

(function () {
  const page = document.getElementById("workers-page");
  const body = document.querySelector("#workers tbody");
  const empty = document.getElementById("workers-empty");
  const updated = document.getElementById("workers-updated");
  const REFRESH_MS = Number(page.dataset.refreshMs) || 2000;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function ago(seconds) {
    if (seconds < 60) return Math.round(seconds) + " s ago";
    if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
    return Math.round(seconds / 3600) + " h ago";
  }

  function trainersCell(w) {
    const cell = el("td", {class: "trainers"});
    for (const key of w.trainers) cell.append(el("span", {class: "chip", "data-trainer": key}, key));
    const broken = Object.entries(w.broken || {});
    if (broken.length) {
      const list = el("ul", {class: "broken-list"});
      for (const [key, reason] of broken) {
        list.append(el("li", {"data-trainer": key, title: reason}, el("code", {}, key), ": " + reason));
      }
      cell.append(el("details", {class: "broken"}, el("summary", {}, broken.length + " cannot run"), list));
    }
    return cell;
  }

  function trialCell(w) {
    const t = w.trial;
    if (!t) return el("td", {class: "trial muted"}, "—");
    const link = el("a", {href: "/sweeps/" + t.sweep + "/trials/" + t.number + "/", "data-trial": t.id},
      t.sweep_name + " · trial " + t.number);
    return el("td", {class: "trial"}, link, el("span", {class: "muted small"}, " rung " + t.rung));
  }

  function row(w) {
    const device = el("td", {class: "device"}, w.device);
    if (w.gpu_name) device.append(el("span", {class: "muted small"}, " " + w.gpu_name));
    const beat = w.state === "stopped" ? "stopped " + ago(w.heartbeat_age) : ago(w.heartbeat_age);
    return el("tr", {"data-worker": w.name, "data-state": w.state},
      el("td", {class: "name"}, el("code", {}, w.name)),
      el("td", {}, w.host),
      el("td", {class: "num"}, String(w.pid)),
      device,
      trainersCell(w),
      el("td", {}, el("span", {class: "status worker-" + w.state}, w.state)),
      trialCell(w),
      el("td", {class: "beat", title: w.heartbeat_at}, beat));
  }

  function render(rows) {
    // A list of reasons someone opened stays open through the refresh.
    const open = new Set(Array.from(body.querySelectorAll("details.broken[open]"),
      (d) => d.closest("tr").dataset.worker));
    body.replaceChildren(...rows.map(row));
    for (const tr of body.querySelectorAll("tr")) {
      const details = tr.querySelector("details.broken");
      if (details && open.has(tr.dataset.worker)) details.open = true;
    }
    empty.hidden = rows.length > 0;
  }

  async function refresh() {
    try {
      const response = await fetch("/api/workers/", {headers: {Accept: "application/json"}, credentials: "same-origin"});
      if (!response.ok) throw new Error("HTTP " + response.status);
      render(await response.json());
      updated.textContent = "updated " + new Date().toLocaleTimeString();
      updated.className = "live on";
    } catch (err) {
      updated.textContent = "cannot reach the server (" + err.message + ")";
      updated.className = "live off";
    }
    setTimeout(refresh, REFRESH_MS);
  }

  render(JSON.parse(document.getElementById("workers-snapshot").textContent));
  setTimeout(refresh, REFRESH_MS);
})();
