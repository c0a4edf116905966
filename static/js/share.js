/* The Sharing panel of the sweep page: who may watch (viewers) and who may also steer
   (editors) a sweep, read from and written to /api/sweeps/<id>/sharing/. The server decides
   who may change it (its can_change); everyone else sees the list read-only, or nothing when
   the server does not tell them. */
"use strict";

(function () {
  const box = document.getElementById("sharing");
  if (!box) return;
  const SWEEP = box.dataset.sweep;
  const URL_ = "/api/sweeps/" + SWEEP + "/sharing/";
  const body = document.getElementById("sharing-body");
  const summary = box.querySelector("summary");
  const ROLES = [["viewers", "viewer", "may watch"], ["editors", "editor", "may watch and steer"]];
  let current = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function csrf() {
    const input = document.querySelector("[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function call(method, data) {
    const init = {method, credentials: "same-origin", headers: {Accept: "application/json"}};
    if (data !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRFToken"] = csrf();
      init.body = JSON.stringify(data);
    }
    try {
      const response = await fetch(URL_, init);
      let json = null;
      try { json = await response.json(); } catch (err) { json = null; }
      return {status: response.status, ok: response.ok, data: json};
    } catch (err) {
      return {status: 0, ok: false, data: {detail: "cannot reach the server (" + err.message + ")"}};
    }
  }

  function people(s) {
    return (s.viewers || []).length + (s.editors || []).length;
  }

  function render(s, error) {
    current = s;
    const n = people(s);
    summary.textContent = (s.can_change ? "Share" : "Shared with") + (n ? " · " + n : "");
    const lists = ROLES.map(([key, role, what]) => {
      const names = s[key] || [];
      const items = names.map((name) => el("li", {"data-user": name, "data-role": role},
        el("span", {class: "who"}, name),
        s.can_change ? el("button", {type: "button", class: "small secondary", "data-remove": name, title: "stop sharing with " + name, "aria-label": "remove " + name}, "✕") : null));
      return el("div", {class: "share-role", "data-list": key},
        el("div", {class: "small"}, el("strong", {}, key[0].toUpperCase() + key.slice(1)), el("span", {class: "muted"}, " " + what)),
        items.length ? el("ul", {class: "share-list"}, ...items) : el("p", {class: "muted small empty"}, "nobody"));
    });
    const parts = [el("p", {class: "small"}, "Owner ", el("strong", {id: "share-owner"}, s.owner || "—")), ...lists];
    if (s.can_change) {
      const input = el("input", {type: "text", name: "share-user", placeholder: "user name", "aria-label": "user name", autocomplete: "off"});
      const role = el("select", {name: "share-role", "aria-label": "role"}, el("option", {value: "viewer"}, "viewer"), el("option", {value: "editor"}, "editor"));
      const form = el("form", {id: "share-form", class: "share-form"}, input, role, el("button", {type: "submit"}, "Add"));
      parts.push(form, el("div", {class: "field-error", id: "share-error", role: "alert"}, error || ""));
      if (error) input.classList.add("invalid");
    }
    body.replaceChildren(...parts);
  }

  async function save(next, typed) {
    const answer = await call("PUT", {viewers: next.viewers, editors: next.editors});
    if (answer.ok && answer.data && Array.isArray(answer.data.viewers)) { render(answer.data); return; }
    if (answer.ok) { load(); return; }
    const errors = (answer.data && answer.data.errors) || {};
    const text = Object.keys(errors).length
      ? Object.values(errors).join("; ")
      : (answer.data && answer.data.detail) || "could not save (HTTP " + answer.status + ")";
    render(current, text);
    const input = body.querySelector("[name=share-user]");
    if (input && typed) { input.value = typed.name; body.querySelector("[name=share-role]").value = typed.role; input.focus(); }
  }

  body.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = body.querySelector("[name=share-user]").value.trim();
    const role = body.querySelector("[name=share-role]").value;
    if (!name) return;
    // A user is a viewer or an editor, not both: adding one under the other role moves them.
    const viewers = (current.viewers || []).filter((n) => n !== name);
    const editors = (current.editors || []).filter((n) => n !== name);
    (role === "editor" ? editors : viewers).push(name);
    save({viewers, editors}, {name, role});
  });

  body.addEventListener("click", (ev) => {
    const button = ev.target.closest("[data-remove]");
    if (!button) return;
    const name = button.dataset.remove;
    save({viewers: (current.viewers || []).filter((n) => n !== name), editors: (current.editors || []).filter((n) => n !== name)});
  });

  async function load() {
    const answer = await call("GET");
    if (answer.ok && answer.data) { render(answer.data); return; }
    if (box.dataset.canShare !== "1") { box.remove(); return; } // not told: show nothing
    body.replaceChildren(el("p", {class: "field-error"}, "Sharing is not available (" + ((answer.data && answer.data.detail) || "HTTP " + answer.status) + ")."));
  }

  // A popover: a click elsewhere or Escape closes it.
  document.addEventListener("click", (ev) => { if (box.open && !box.contains(ev.target)) box.open = false; });
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && box.open) box.open = false; });

  load();
})();
