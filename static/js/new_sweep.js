/* The New sweep page (dashboard/views.py sweep_new): a form and the same spec as JSON, both
   checked as you type through POST /api/sweeps/plan/ (which creates nothing), and Launch
   through POST /api/sweeps/. The server owns every rule: this file shows its errors beside
   the field they name and its plan, and checks nothing itself but what a JSON object cannot
   hold (two parameters with one name).

   ?from=<id> starts from that sweep's spec (GET /api/sweeps/<id>/spec/); ?zoom=<id> from its
   spec with the space narrowed around its best trials (GET /api/sweeps/<id>/zoom/). */
"use strict";

(function () {
  const page = document.getElementById("new-page");
  const META = JSON.parse(document.getElementById("form-meta").textContent);
  const MODE = page.dataset.mode; // new | clone | zoom
  const SOURCE = page.dataset.source ? Number(page.dataset.source) : null;
  const form = document.getElementById("spec-form");
  const CSRF = form.querySelector("[name=csrfmiddlewaretoken]").value;
  const $ = (sel) => document.querySelector(sel);
  const field = (name) => form.elements.namedItem(name);
  const spaceBody = $("#space-table tbody");
  const jsonText = $("#spec-json");
  const CHECK_DELAY_MS = 400;
  const KINDS = ["float", "int", "categorical"];
  // Spec fields, per section, that the form edits; anything else a spec carries is kept
  // as it came (state.extra) so that form -> JSON -> form loses nothing.
  const OWNED = {
    spec: ["name", "trainer", "trainer_args", "objective", "space", "search_space", "sampler",
      "scheduler", "max_trials", "concurrency", "seed"],
    objective: ["metric", "mode"],
    sampler: ["name", "base_estimator", "acq_func", "n_initial_points", "random_fraction", "min_rank_corr"],
    scheduler: ["name", "min_resource", "max_resource", "eta", "min_trials"],
    param: ["type", "low", "high", "log", "step", "choices", "condition"],
  };

  const state = {
    trainers: new Map(), // key -> /api/trainers/ entry
    spaces: new Map(), // saved search space id -> entry
    origin: null, // the saved search space the table started from (recorded with the sweep)
    extra: {spec: {}, objective: {}, sampler: {}, scheduler: {}, trainer_args: {}},
    tab: "form",
    checkSeq: 0,
    timer: null,
    launching: false,
    zoomSeq: 0,
    zoomTimer: null,
    lastOk: false,
  };

  // --- small helpers -----------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "value") node.value = value;
      else if (key === "checked") node.checked = Boolean(value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function option(value, label, selected) {
    return el("option", {value, selected: Boolean(selected)}, label === undefined ? value : label);
  }

  function fill(select, values, chosen) {
    select.replaceChildren(...values.map((v) => Array.isArray(v) ? option(v[0], v[1], v[0] === chosen) : option(v, v, v === chosen)));
    if (chosen !== undefined && chosen !== null && !values.some((v) => (Array.isArray(v) ? v[0] : v) === chosen)) {
      // A value the list does not offer (an unknown trainer, a metric the trainer does not
      // report) stays, so that the server can say what is wrong with it.
      select.append(option(chosen, chosen + " (not offered)", true));
    }
  }

  function fmt(v) {
    if (v === null || v === undefined || v === "") return "—";
    if (typeof v !== "number") return String(v);
    if (v !== 0 && (Math.abs(v) < 1e-6 || Math.abs(v) >= 1e9)) return v.toExponential(3);
    if (Number.isInteger(v)) return v.toLocaleString("en-US");
    return Number(v.toPrecision(Math.abs(v) < 1e-3 ? 4 : 6)).toString();
  }

  function without(obj, keys) {
    const out = {};
    for (const [k, v] of Object.entries(obj || {})) if (!keys.includes(k)) out[k] = v;
    return out;
  }

  /* An input's number; "" is "not given" (undefined); text that is no number is sent as
     typed, for the server to refuse by name. */
  function numberOf(input) {
    const raw = input.value.trim();
    if (raw === "") return undefined;
    const n = Number(raw);
    return Number.isFinite(n) ? n : raw;
  }

  function setNumber(input, value) {
    input.value = typeof value === "number" && Number.isFinite(value) ? String(value) : "";
  }

  /* Choices and condition values as one line: strings that would read back as a number or
     a boolean are quoted, so "32" and 32 survive the round trip. */
  function showScalar(v) {
    if (typeof v === "string") return /^\s*$|^-?[\d.]+(e-?\d+)?$|^(true|false|null)$|[,"]/i.test(v) ? JSON.stringify(v) : v;
    return JSON.stringify(v);
  }

  function parseScalar(text) {
    const t = text.trim();
    if (/^".*"$/.test(t)) {
      try { return JSON.parse(t); } catch (e) { return t.slice(1, -1); }
    }
    if (t === "true") return true;
    if (t === "false") return false;
    if (t !== "" && Number.isFinite(Number(t))) return Number(t);
    return t;
  }

  function parseList(text) {
    const out = [];
    // Split on commas outside double quotes.
    const parts = text.match(/("([^"\\]|\\.)*"|[^,])+/g) || [];
    for (const part of parts) if (part.trim() !== "") out.push(parseScalar(part));
    return out;
  }

  async function api(method, url, body) {
    const init = {method, credentials: "same-origin", headers: {Accept: "application/json"}};
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRFToken"] = CSRF;
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      return {status: 0, ok: false, data: {detail: "cannot reach the server (" + err.message + ")"}};
    }
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    return {status: response.status, ok: response.ok, data};
  }

  function setBadge(node, text, cls) {
    node.textContent = text;
    node.className = "live " + (cls || "");
  }

  // --- trainer, arguments, objective ---------------------------------------------------------

  function trainer() {
    return state.trainers.get(field("trainer").value) || null;
  }

  function renderTrainerInfo() {
    const t = trainer();
    const info = $("#trainer-info");
    if (!t) { info.textContent = "Not a trainer this server knows."; return; }
    const workers = t.workers === undefined ? "" : " · " + t.workers + (t.workers === 1 ? " live worker runs it" : " live workers run it");
    info.replaceChildren(t.description || "", el("span", {class: "muted"}, " · resource: " + t.resource_unit + workers));
    for (const unit of form.querySelectorAll(".unit")) unit.textContent = "(" + t.resource_unit + ")";
  }

  function renderMetrics(chosen) {
    const t = trainer();
    const metrics = t && t.metrics && t.metrics.length ? t.metrics : [];
    if (chosen === undefined) chosen = metrics.includes("val_loss") ? "val_loss" : metrics[0];
    fill(field("metric"), metrics, chosen);
  }

  function argInput(name, arg, value) {
    const path = "trainer_args." + name;
    const attrs = {name: "arg:" + name, "data-path": path, "data-arg": name, "data-type": arg.type};
    if (arg.type === "bool") {
      return el("label", {class: "check"}, el("input", Object.assign(attrs, {type: "checkbox", checked: Boolean(value)})), " " + name);
    }
    let input;
    if (arg.choices && arg.choices.length) {
      input = el("select", attrs);
      fill(input, arg.choices.map(String), value === undefined || value === null ? undefined : String(value));
    } else if (arg.type === "int" || arg.type === "float") {
      input = el("input", Object.assign(attrs, {type: "number", step: arg.type === "int" ? "1" : "any",
        min: arg.low, max: arg.high, placeholder: arg.default === null || arg.default === undefined ? "" : String(arg.default)}));
      setNumber(input, value);
    } else {
      input = el("input", Object.assign(attrs, {type: "text", value: value === null || value === undefined ? "" : String(value)}));
    }
    const label = el("label", {}, name + " ", input);
    if (arg.help) label.title = arg.help;
    return label;
  }

  function renderArgs(values) {
    const t = trainer();
    const holder = $("#trainer-args");
    const schema = (t && t.args_schema) || {};
    const names = Object.keys(schema);
    holder.replaceChildren(...names.map((name) => {
      const arg = schema[name];
      const value = values && name in values ? values[name] : arg.default;
      const wrap = el("div", {class: "arg"}, argInput(name, arg, value));
      if (arg.help) wrap.append(el("div", {class: "muted small help"}, arg.help));
      return wrap;
    }));
    if (!names.length) holder.append(el("p", {class: "muted small"}, "This trainer takes no arguments."));
    state.extra.trainer_args = without(values, names);
  }

  function argsSpec() {
    const out = Object.assign({}, state.extra.trainer_args);
    for (const input of $("#trainer-args").querySelectorAll("[data-arg]")) {
      const name = input.dataset.arg;
      if (input.dataset.type === "bool") out[name] = input.checked;
      else if (input.dataset.type === "int" || input.dataset.type === "float") {
        const v = numberOf(input);
        if (v !== undefined) out[name] = v;
      } else if (input.tagName === "SELECT") {
        const arg = trainer().args_schema[name];
        const match = (arg.choices || []).find((c) => String(c) === input.value);
        out[name] = match === undefined ? input.value : match;
      } else out[name] = input.value;
    }
    return out;
  }

  // --- the search space table ------------------------------------------------------------------

  function paramRow(name, spec) {
    spec = spec || {type: "float", low: 0, high: 1};
    const kind = KINDS.includes(spec.type) ? spec.type : "float";
    const cond = spec.condition && typeof spec.condition === "object" ? spec.condition : null;
    const tr = el("tr", {class: "param type-" + kind});
    tr._extra = without(spec, OWNED.param); // unknown keys ride along for the server to name
    const typeSelect = el("select", {"data-col": "type", "aria-label": "type"});
    fill(typeSelect, KINDS, kind);
    const low = el("input", {type: "number", step: "any", "data-col": "low", "aria-label": "low"});
    const high = el("input", {type: "number", step: "any", "data-col": "high", "aria-label": "high"});
    setNumber(low, spec.low);
    setNumber(high, spec.high);
    const step = el("input", {type: "number", step: "any", min: "0", "data-col": "step", "aria-label": "step"});
    setNumber(step, spec.step);
    const choices = el("input", {type: "text", "data-col": "choices", "aria-label": "choices",
      placeholder: "choices, comma separated: adam, sgd", value: Array.isArray(spec.choices) ? spec.choices.map(showScalar).join(", ") : ""});
    const parent = el("select", {"data-col": "parent", "aria-label": "condition parameter"});
    parent._chosen = cond ? cond.parent : "";
    const values = el("input", {type: "text", "data-col": "values", "aria-label": "condition values",
      placeholder: "sgd", value: cond && Array.isArray(cond.values) ? cond.values.map(showScalar).join(", ") : ""});
    tr.append(
      el("td", {}, el("input", {type: "text", "data-col": "name", "aria-label": "name", value: name, placeholder: "lr"})),
      el("td", {}, typeSelect),
      el("td", {class: "numeric"}, low),
      el("td", {class: "numeric"}, high),
      el("td", {class: "numeric center"}, el("input", {type: "checkbox", "data-col": "log", "aria-label": "log scale", checked: spec.log === true})),
      el("td", {class: "numeric"}, step),
      el("td", {class: "categorical", colspan: 4}, choices),
      el("td", {class: "condition"}, el("div", {class: "cond"}, parent, el("span", {class: "muted"}, "="), values)),
      el("td", {}, el("button", {type: "button", class: "small secondary remove", title: "remove this parameter", "aria-label": "remove " + name}, "✕")),
    );
    return tr;
  }

  function rows() {
    return Array.from(spaceBody.querySelectorAll("tr.param"));
  }

  function col(tr, name) {
    return tr.querySelector('[data-col="' + name + '"]');
  }

  /* Each row's cells carry the spec paths the server names them by (space.<name>.low). */
  function refreshRows() {
    const names = rows().map((tr) => col(tr, "name").value.trim());
    for (const tr of rows()) {
      const name = col(tr, "name").value.trim();
      const kind = col(tr, "type").value;
      tr.className = "param type-" + kind;
      const base = "space." + name;
      col(tr, "name").dataset.path = base;
      for (const key of ["type", "low", "high", "log", "step", "choices"]) col(tr, key).dataset.path = base + "." + key;
      tr.querySelector("td.condition").dataset.path = base + ".condition";
      const parent = col(tr, "parent");
      const chosen = parent.options.length ? parent.value : parent._chosen;
      fill(parent, [["", "always"], ...names.filter((n) => n && n !== name).map((n) => [n, n])], chosen || "");
      col(tr, "values").disabled = !parent.value;
    }
  }

  function loadSpace(space) {
    spaceBody.replaceChildren(...Object.entries(space || {}).map(([name, spec]) => paramRow(name, spec)));
    refreshRows();
  }

  /* The table as a spec, and what a JSON object cannot hold (errors by path). */
  function spaceSpec() {
    const out = {};
    const problems = {};
    for (const tr of rows()) {
      const name = col(tr, "name").value.trim();
      if (!name) { problems.space = "every parameter needs a name"; continue; }
      if (name in out) { problems["space." + name] = "two parameters are named " + JSON.stringify(name); continue; }
      const kind = col(tr, "type").value;
      const spec = {type: kind};
      if (kind === "categorical") {
        spec.choices = parseList(col(tr, "choices").value);
      } else {
        for (const key of ["low", "high", "step"]) {
          const v = numberOf(col(tr, key));
          if (v !== undefined) spec[key] = v;
        }
        if (col(tr, "log").checked) spec.log = true;
      }
      const parent = col(tr, "parent").value;
      if (parent) spec.condition = {parent, values: parseList(col(tr, "values").value)};
      out[name] = Object.assign(spec, tr._extra);
    }
    return {space: out, problems};
  }

  function renderSpaceSources() {
    const select = $("#space-source");
    const items = [["", "the table below"], ["default", "the trainer's default space"]];
    for (const s of state.spaces.values()) items.push(["saved:" + s.id, "saved: " + s.name + (s.owner ? " (" + s.owner + ")" : "")]);
    if (state.origin !== null && !state.spaces.has(state.origin)) items.push(["saved:" + state.origin, "saved space #" + state.origin]);
    fill(select, items, state.origin !== null ? "saved:" + state.origin : "");
  }

  // --- sampler, scheduler ------------------------------------------------------------------------

  function showFor(attr, value) {
    for (const node of form.querySelectorAll("[data-for-" + attr + "]")) {
      node.hidden = node.getAttribute("data-for-" + attr) !== value;
    }
  }

  function loadSampler(sampler) {
    sampler = sampler && typeof sampler === "object" ? sampler : META.defaults.sampler;
    fill(field("sampler"), META.samplers, sampler.name);
    fill(field("base_estimator"), META.base_estimators, sampler.base_estimator || META.bayes.base_estimator);
    fill(field("acq_func"), META.acq_funcs, sampler.acq_func || META.bayes.acq_func);
    for (const name of ["n_initial_points", "random_fraction", "min_rank_corr"]) {
      setNumber(field(name), name in sampler ? sampler[name] : META.bayes[name]);
    }
    state.extra.sampler = without(sampler, OWNED.sampler);
    showFor("sampler", field("sampler").value);
  }

  function samplerSpec() {
    const name = field("sampler").value;
    const out = {name};
    if (name === "bayes") {
      out.base_estimator = field("base_estimator").value;
      out.acq_func = field("acq_func").value;
      for (const name of ["n_initial_points", "random_fraction", "min_rank_corr"]) {
        const n = numberOf(field(name));
        if (n !== undefined) out[name] = n;
      }
    }
    return Object.assign(out, without(state.extra.sampler, Object.keys(out)));
  }

  function loadScheduler(scheduler) {
    scheduler = scheduler && typeof scheduler === "object" ? scheduler : META.defaults.scheduler;
    fill(field("scheduler"), META.schedulers, scheduler.name);
    setNumber(field("min_resource"), scheduler.min_resource);
    setNumber(field("max_resource"), scheduler.max_resource);
    setNumber(field("eta"), scheduler.eta);
    setNumber(field("min_trials"), scheduler.min_trials);
    state.extra.scheduler = without(scheduler, OWNED.scheduler);
    showFor("scheduler", field("scheduler").value);
  }

  function schedulerSpec() {
    const name = field("scheduler").value;
    const out = {name};
    const keys = ["min_resource", "max_resource", "eta"].concat(name === "median" ? ["min_trials"] : []);
    for (const key of keys) {
      const v = numberOf(field(key));
      if (v !== undefined) out[key] = v;
    }
    return Object.assign(out, without(state.extra.scheduler, Object.keys(out)));
  }

  // --- the whole spec: form <-> object <-> JSON text ------------------------------------------

  /* The form as a spec, and the problems no spec could express. */
  function formSpec() {
    const spec = {name: field("name").value, trainer: field("trainer").value, trainer_args: argsSpec(),
      objective: Object.assign({metric: field("metric").value, mode: field("mode").value}, state.extra.objective)};
    const {space, problems} = spaceSpec();
    // The table is what the sweep searches; a saved space it started from is recorded too.
    spec.space = space;
    if (state.origin !== null) spec.search_space = state.origin;
    spec.sampler = samplerSpec();
    spec.scheduler = schedulerSpec();
    for (const key of ["max_trials", "concurrency", "seed"]) {
      const v = numberOf(field(key));
      if (v !== undefined) spec[key] = v;
    }
    for (const [k, v] of Object.entries(state.extra.spec)) if (!(k in spec)) spec[k] = v;
    return {spec, problems};
  }

  /* Fill the form from a spec (a clone's, the JSON tab's); what the form has no field for
     is kept aside and sent back as it was. */
  function loadSpec(spec) {
    spec = spec && typeof spec === "object" && !Array.isArray(spec) ? spec : {};
    state.extra.spec = without(spec, OWNED.spec);
    field("name").value = typeof spec.name === "string" ? spec.name : "";
    const keys = Array.from(state.trainers.keys());
    const key = typeof spec.trainer === "string" ? spec.trainer : keys[0] || "";
    fill(field("trainer"), keys, key);
    renderTrainerInfo();
    const objective = spec.objective && typeof spec.objective === "object" ? spec.objective : {};
    state.extra.objective = without(objective, OWNED.objective);
    renderMetrics(objective.metric);
    field("mode").value = objective.mode === "max" ? "max" : "min";
    renderArgs(spec.trainer_args && typeof spec.trainer_args === "object" ? spec.trainer_args : {});
    const saved = spec.search_space === undefined || spec.search_space === null ? null : spec.search_space;
    state.origin = saved;
    if (spec.space && typeof spec.space === "object") loadSpace(spec.space);
    else if (saved !== null && state.spaces.has(saved)) loadSpace(state.spaces.get(saved).space);
    else loadSpace(trainer() ? trainer().default_space : {});
    renderSpaceSources();
    loadSampler(spec.sampler);
    loadScheduler(spec.scheduler);
    for (const k of ["max_trials", "concurrency", "seed"]) {
      setNumber(field(k), k in spec ? spec[k] : META.defaults[k]);
      if (k in spec && typeof spec[k] !== "number") state.extra.spec[k] = spec[k];
    }
  }

  /* The spec being edited (from the tab in front), or null while the JSON does not parse. */
  function currentSpec() {
    if (state.tab === "form") return formSpec();
    try {
      const spec = JSON.parse(jsonText.value);
      $("#json-error").textContent = "";
      return {spec, problems: {}};
    } catch (err) {
      $("#json-error").textContent = "Not valid JSON: " + err.message;
      return null;
    }
  }

  function switchTab(tab) {
    if (tab === state.tab) return;
    if (tab === "json") {
      jsonText.value = JSON.stringify(formSpec().spec, null, 2);
      $("#json-error").textContent = "";
    } else {
      const current = currentSpec();
      if (current === null) return; // stay until the JSON parses; the error says why
      loadSpec(current.spec);
    }
    state.tab = tab;
    for (const b of document.querySelectorAll(".tab")) {
      b.classList.toggle("active", b.dataset.tab === tab);
      b.setAttribute("aria-selected", String(b.dataset.tab === tab));
    }
    form.hidden = tab !== "form";
    $("#json-tab").hidden = tab !== "json";
    scheduleCheck(0);
  }

  // --- errors, plan, warnings ---------------------------------------------------------------

  function clearErrors() {
    for (const node of document.querySelectorAll("#new-page .field-error[data-for]")) node.remove();
    for (const node of document.querySelectorAll("#new-page .invalid")) node.classList.remove("invalid");
    $("#error-summary").hidden = true;
    $("#error-summary").replaceChildren();
  }

  /* The element showing ``path`` (space.lr.low), or the nearest one above it (space.lr,
     then space); null when nothing on the form stands for it. */
  function target(root, path) {
    const parts = path.split(".");
    while (parts.length) {
      const node = root.querySelector('[data-path="' + CSS.escape(parts.join(".")) + '"]');
      if (node && !node.closest("[hidden]")) return node;
      parts.pop();
    }
    return null;
  }

  function showErrors(errors, root) {
    clearErrors();
    const unplaced = [];
    for (const [path, message] of Object.entries(errors)) {
      const node = state.tab === "form" ? target(root || form, path) : null;
      if (!node) { unplaced.push([path, message]); continue; }
      const exact = node.dataset.path === path;
      const text = exact ? message : path + ": " + message;
      node.classList.add("invalid");
      const note = el("div", {class: "field-error", "data-for": path}, text);
      if (node.tagName === "TABLE" || node.tagName === "FIELDSET") {
        const anchor = node.tagName === "TABLE" ? node.closest(".table-wrap") : node.querySelector("legend");
        anchor.after(note);
      } else {
        const holder = node.closest("td, label, .arg") || node.parentElement;
        holder.append(note);
      }
    }
    if (unplaced.length) {
      const box = $("#error-summary");
      box.replaceChildren(el("strong", {}, state.tab === "form" ? "Also wrong:" : "The spec has errors:"),
        el("ul", {}, ...unplaced.map(([p, m]) => el("li", {"data-path": p}, el("code", {}, p), " " + m))));
      box.hidden = false;
    }
  }

  function renderWarnings(warnings) {
    const box = $("#warnings");
    const list = (warnings || []).map((w) => typeof w === "string" ? w : (w.message || JSON.stringify(w)));
    box.hidden = list.length === 0;
    box.replaceChildren(el("strong", {}, "Warnings"), el("ul", {}, ...list.map((w) => el("li", {}, w))));
  }

  function renderPlan(plan, errorCount) {
    const holder = $("#plan");
    if (!plan) {
      const n = typeof errorCount === "number" ? errorCount : 0;
      holder.replaceChildren(el("p", {class: "muted"}, n
        ? "Fix the " + (n === 1 ? "error" : n + " errors") + " marked in red to see the plan."
        : "The plan shows once the spec is valid."));
      return;
    }
    const unit = plan.unit || (trainer() ? trainer().resource_unit : "");
    // How sure the counts are: exact, or at most / at least / about (the server's "bound").
    const atMost = plan.bound && plan.bound !== "exact" ? plan.bound + " " : "";
    const parts = [];
    if (plan.text) parts.push(el("p", {class: "plan-text"}, plan.text));
    const total = el("dd", {id: "plan-total"}, atMost + fmt(plan.total_budget) + " " + unit);
    if (plan.total_budget_without_resume !== undefined && plan.total_budget_without_resume !== plan.total_budget) {
      total.append(el("span", {class: "muted small", title: "promoted trials resume from their checkpoint; without that they would train from scratch at every rung"},
        " (" + fmt(plan.total_budget_without_resume) + " without resuming)"));
    }
    const facts = el("dl", {class: "plan-facts"},
      el("dt", {}, "Total budget"), total,
      el("dt", {}, "Trials"), el("dd", {id: "plan-trials"}, fmt(plan.trials !== undefined ? plan.trials : plan.max_trials) + " of max " + fmt(plan.max_trials)),
      el("dt", {}, "Reach the full budget"), el("dd", {id: "plan-full"}, atMost + fmt(plan.full_budget_trials)));
    if (plan.brackets_total !== undefined) facts.append(el("dt", {}, "Brackets"), el("dd", {}, fmt(plan.brackets_total)));
    parts.push(facts);
    const grid = el("div", {class: "plan-brackets"});
    const brackets = plan.brackets || [];
    for (const b of brackets) {
      const body = el("tbody", {});
      for (const r of b.rungs || []) {
        const known = r.trials !== null && r.trials !== undefined;
        body.append(el("tr", {"data-rung": r.rung},
          el("td", {}, String(r.rung)),
          el("td", {class: "num", "data-trials": known ? r.trials : ""}, known ? String(r.trials) : "?"),
          el("td", {class: "num"}, fmt(r.budget)),
          el("td", {class: "num"}, known ? fmt(r.trials * r.budget) : "—")));
      }
      let caption = brackets.length > 1 || b.s !== undefined ? "Bracket " + b.bracket : "Rungs";
      if (b.size && b.trials !== undefined && b.trials !== null && b.trials < b.size) caption += " · " + b.trials + " of " + b.size;
      grid.append(el("table", {class: "grid plan-table", "data-bracket": b.bracket},
        el("caption", {}, caption),
        el("thead", {}, el("tr", {}, el("th", {}, "Rung"), el("th", {class: "num"}, "Trials"),
          el("th", {class: "num", title: unit + " each trial trains to at this rung"}, "Budget"),
          el("th", {class: "num", title: "trials × budget"}, "Total"))),
        body));
    }
    if (brackets.length) parts.push(el("p", {class: "muted small plan-key"}, "Budget: " + unit + " each trial trains to at that rung; total: trials × budget."));
    parts.push(grid);
    if (plan.brackets_total > brackets.length) parts.push(el("p", {class: "muted small"}, "The first " + brackets.length + " of " + plan.brackets_total + " brackets."));
    holder.replaceChildren(...parts);
  }

  // --- checking and launching ------------------------------------------------------------------

  function scheduleCheck(delay) {
    clearTimeout(state.timer);
    setBadge($("#check-state"), "checking…", "");
    state.timer = setTimeout(check, delay === undefined ? CHECK_DELAY_MS : delay);
  }

  async function check() {
    const seq = ++state.checkSeq;
    const current = currentSpec();
    if (current === null) {
      setBadge($("#check-state"), "not valid JSON", "off");
      state.lastOk = false;
      return;
    }
    const answer = await api("POST", "/api/sweeps/plan/", current.spec);
    if (seq !== state.checkSeq) return; // a newer check is on its way
    const problems = current.problems;
    if (answer.status === 200 && answer.data) {
      const ok = Object.keys(problems).length === 0;
      showErrors(problems);
      renderPlan(answer.data.plan);
      renderWarnings(answer.data.warnings);
      state.lastOk = ok;
      setBadge($("#check-state"), ok ? "valid" : Object.keys(problems).length + " to fix", ok ? "on" : "off");
    } else if (answer.status === 400 && answer.data && answer.data.errors) {
      const errors = Object.assign({}, answer.data.errors, problems);
      showErrors(errors);
      renderPlan(null, Object.keys(errors).length);
      renderWarnings([]);
      state.lastOk = false;
      const n = Object.keys(errors).length;
      setBadge($("#check-state"), n + (n === 1 ? " error" : " errors"), "off");
    } else {
      const detail = (answer.data && answer.data.detail) || "HTTP " + answer.status;
      showErrors({check: "the spec could not be checked: " + detail});
      state.lastOk = false;
      setBadge($("#check-state"), "not checked", "off");
    }
  }

  async function launch() {
    if (state.launching) return;
    const current = currentSpec();
    if (current === null) return;
    if (Object.keys(current.problems).length) { showErrors(current.problems); return; }
    state.launching = true;
    const button = $("#launch");
    button.disabled = true;
    $("#launch-note").textContent = "launching…";
    const answer = await api("POST", "/api/sweeps/", current.spec);
    if (answer.status === 201 && answer.data && answer.data.id !== undefined) {
      $("#launch-note").textContent = "launched; opening it…";
      location.assign("/sweeps/" + answer.data.id + "/");
      return;
    }
    state.launching = false;
    button.disabled = false;
    clearTimeout(state.timer);
    state.checkSeq++; // a check in flight would hide these errors
    if (answer.status === 400 && answer.data && answer.data.errors) {
      showErrors(answer.data.errors);
      $("#launch-note").textContent = "not launched: fix the errors shown";
      setBadge($("#check-state"), Object.keys(answer.data.errors).length + " errors", "off");
    } else {
      const detail = (answer.data && answer.data.detail) || "HTTP " + answer.status;
      $("#launch-note").textContent = "not launched: " + detail;
    }
  }

  // --- zoom in ------------------------------------------------------------------------------------

  function describe(p) {
    if (!p) return "—";
    if (p.type === "categorical") return (p.choices || []).map(showScalar).join(", ");
    let text = fmt(p.low) + " – " + fmt(p.high);
    if (p.log) text += " log";
    if (p.step) text += " step " + fmt(p.step);
    return text;
  }

  function scheduleZoom() {
    clearTimeout(state.zoomTimer);
    state.zoomTimer = setTimeout(() => zoom(false), CHECK_DELAY_MS);
  }

  function fetchZoom() {
    const q = new URLSearchParams({k: $("#zoom-k").value.trim(), margin: $("#zoom-margin").value.trim()});
    return api("GET", "/api/sweeps/" + SOURCE + "/zoom/?" + q.toString());
  }

  function zoomErrors(answer) {
    const panel = $("#zoom-panel");
    for (const node of panel.querySelectorAll(".field-error")) node.remove();
    for (const node of panel.querySelectorAll(".invalid")) node.classList.remove("invalid");
    if (answer.ok && answer.data) return false;
    const errors = (answer.data && answer.data.errors) || {zoom: (answer.data && answer.data.detail) || "HTTP " + answer.status};
    for (const [path, message] of Object.entries(errors)) {
      const node = panel.querySelector('[data-path="' + CSS.escape(path) + '"]');
      if (node) {
        node.classList.add("invalid");
        node.closest("label").append(el("div", {class: "field-error", "data-for": path}, message));
      } else {
        $("#zoom-basis").before(el("div", {class: "field-error", "data-for": path}, message));
      }
    }
    return true;
  }

  /* The preview: each parameter's old and new range, the trials it rests on. */
  function renderZoom(z) {
    const body = $("#zoom-preview tbody");
    // Every parameter: the changed ones with old and new, the others as they stay.
    const changed = new Map((z.changes || []).map((c) => [c.name, c]));
    const names = Array.from(new Set([...Object.keys(z.space || {}), ...changed.keys()]));
    body.replaceChildren(...names.map((name) => {
      const c = changed.get(name);
      const now = c ? c.new : z.space[name];
      return el("tr", {"data-param": name, class: c ? "changed" : "same"},
        el("td", {}, el("code", {}, name)),
        el("td", {class: "old"}, describe(c ? c.old : now)),
        el("td", {class: "new"}, now ? describe(now) : "dropped (its condition can no longer hold)",
          c ? null : el("span", {class: "muted small"}, " (unchanged)")));
    }));
    const basis = (z.based_on || []).map((b) => "#" + b);
    const inside = typeof z.warm_start === "number"
      ? " " + z.warm_start + " of the old sweep's results lie inside the new space." : "";
    $("#zoom-basis").textContent = (basis.length ? "Based on the " + basis.length + " best trials: " + basis.join(", ") + "." : "") + inside;
  }

  /* Another k or margin: the preview follows and the narrowed space replaces the table (or
     the JSON's space), the rest of the spec as edited. */
  async function zoom() {
    const seq = ++state.zoomSeq;
    const answer = await fetchZoom();
    if (seq !== state.zoomSeq || zoomErrors(answer)) return;
    const z = answer.data;
    renderZoom(z);
    if (state.tab === "json") {
      const current = currentSpec();
      if (current === null) return;
      current.spec.space = z.space;
      jsonText.value = JSON.stringify(current.spec, null, 2);
    } else loadSpace(z.space);
    scheduleCheck();
  }

  // --- events -------------------------------------------------------------------------------------

  function onFormEdit(ev) {
    const t = ev.target;
    if (t.id === "space-source") return;
    if (t.name === "trainer") {
      // Another trainer: its arguments, metrics and default space.
      state.extra.trainer_args = {};
      renderTrainerInfo();
      renderMetrics();
      renderArgs({});
      state.origin = null;
      loadSpace(trainer() ? trainer().default_space : {});
      renderSpaceSources();
    } else if (t.name === "sampler") showFor("sampler", t.value);
    else if (t.name === "scheduler") showFor("scheduler", t.value);
    if (t.closest("#space-table")) {
      if (ev.type === "change" || t.dataset.col === "name") refreshRows();
    }
    scheduleCheck();
  }

  form.addEventListener("input", onFormEdit);
  form.addEventListener("change", (ev) => { if (ev.target.tagName === "SELECT" || ev.target.type === "checkbox") onFormEdit(ev); });
  form.addEventListener("submit", (ev) => ev.preventDefault());
  jsonText.addEventListener("input", () => scheduleCheck());

  $("#space-source").addEventListener("change", (ev) => {
    const v = ev.target.value;
    if (v === "default") {
      state.origin = null;
      loadSpace(trainer() ? trainer().default_space : {});
    } else if (v.startsWith("saved:") && state.spaces.has(Number(v.slice(6)))) {
      const id = Number(v.slice(6));
      state.origin = id;
      loadSpace(state.spaces.get(id).space);
    }
    renderSpaceSources();
    scheduleCheck(0);
  });

  $("#add-param").addEventListener("click", () => {
    const taken = new Set(rows().map((tr) => col(tr, "name").value.trim()));
    let n = rows().length + 1;
    while (taken.has("param" + n)) n++;
    const tr = paramRow("param" + n, {type: "float", low: 0, high: 1});
    spaceBody.append(tr);
    refreshRows();
    col(tr, "name").select();
    scheduleCheck();
  });

  spaceBody.addEventListener("click", (ev) => {
    const button = ev.target.closest("button.remove");
    if (!button) return;
    button.closest("tr").remove();
    refreshRows();
    scheduleCheck();
  });

  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => switchTab(b.dataset.tab));
  $("#launch").addEventListener("click", launch);
  if (MODE === "zoom") {
    $("#zoom-k").addEventListener("input", scheduleZoom);
    $("#zoom-margin").addEventListener("input", scheduleZoom);
  }

  // --- start --------------------------------------------------------------------------------------

  /* A link from another page may pick the trainer (?trainer=) and a learning-rate range
     (?lr_low=&lr_high=, the LR range test's suggestion: a log-scale lr in the trainer's
     default space). */
  function fromLink(q) {
    const out = {};
    const key = q.get("trainer");
    if (key && state.trainers.has(key)) out.trainer = key;
    const low = Number(q.get("lr_low")), high = Number(q.get("lr_high"));
    if (q.has("lr_low") && q.has("lr_high") && Number.isFinite(low) && Number.isFinite(high)) {
      const t = state.trainers.get(out.trainer) || state.trainers.values().next().value;
      out.trainer = t ? t.key : out.trainer;
      out.space = Object.assign({}, t ? t.default_space : {}, {lr: {type: "float", low, high, log: true}});
    }
    return out;
  }

  async function start() {
    const badge = $("#load-state");
    const [trainers, spaces] = await Promise.all([api("GET", "/api/trainers/"), api("GET", "/api/search-spaces/")]);
    if (!trainers.ok || !Array.isArray(trainers.data)) {
      setBadge(badge, "cannot load the trainers (" + ((trainers.data && trainers.data.detail) || "HTTP " + trainers.status) + ")", "off");
      return;
    }
    for (const t of trainers.data) state.trainers.set(t.key, t);
    const savedList = spaces.ok && spaces.data ? (Array.isArray(spaces.data) ? spaces.data : spaces.data.results || []) : [];
    for (const s of savedList) state.spaces.set(s.id, s);
    let spec = {name: "", scheduler: META.defaults.scheduler, sampler: META.defaults.sampler};
    let zoomed = null;
    if (MODE === "zoom") {
      // The zoom answer carries the follow-up's whole spec; without one (fewer than two
      // results, say) the form starts from the sweep's own spec and the panel says why.
      const answer = await fetchZoom();
      if (!zoomErrors(answer)) zoomed = answer.data;
    }
    if (zoomed) spec = zoomed.spec;
    else if (MODE === "clone" || MODE === "zoom") {
      const answer = await api("GET", "/api/sweeps/" + SOURCE + "/spec/");
      if (!answer.ok || !answer.data) {
        setBadge(badge, "cannot load sweep #" + SOURCE + "'s spec (" + ((answer.data && answer.data.detail) || "HTTP " + answer.status) + ")", "off");
        return;
      }
      spec = answer.data; // named "<name> (copy)" by the server
    }
    if (MODE === "new") spec = Object.assign(spec, fromLink(new URLSearchParams(location.search)));
    loadSpec(spec);
    if (zoomed) renderZoom(zoomed);
    setBadge(badge, MODE === "clone" ? "copied from #" + SOURCE : MODE === "zoom" ? "narrowed from #" + SOURCE : "ready", "on");
    page.dataset.ready = "1";
    scheduleCheck(0);
  }

  renderPlan(null);
  start();
  window.RungsNewSweep = {state, formSpec, loadSpec, check};
})();
