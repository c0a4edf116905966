/* The science-fair bracket: rungs as columns, trials as cells ranked by their rung result,
   lines to the rung a trial was promoted to (dashed + badge when by hand).

   A rung of many trials is folded: it shows its top ranks, the promotion cut (the last
   trials that go on and the first left behind) and the trials worth finding (running, by
   hand, selected); the ranks skipped between them are a "⋮ 19" row, and a "+ 72 more"
   button unfolds the whole rung (kept unfolded across live updates). A promotion line whose
   cell is folded ends at the row that holds it.

   A big sweep's bracket comes folded by the server (dashboard/live/limits.py, the same
   rule): its folded rungs carry gap entries ({gap: n, pos, trials}) among their cells and
   "+ n more" asks the server for the rung whole (onUnfold).

   Layout is read once per draw, for every bracket together, after the HTML is written and
   before the lines are: at 10,000 trials a read after each line's write forced a layout
   per promotion (2.6 s). */
"use strict";

(function () {
  const R = window.Rungs;
  const MARK = {killed: "✕", paused: "II", failed: "err", completed: "✓", waiting: "…"};
  const HEAD = 6; // top ranks always shown
  const ABOVE_CUT = 2, BELOW_CUT = 1; // shown around the promotion cut
  const FOLD_OVER = 12; // rungs of at most this many show every trial
  const MIN_FOLD = 3; // fewer hidden than this: show them (a fold row costs a row too)

  const unfolded = new Set(); // "bracket:rung" of the rungs the user unfolded
  const drawn = new WeakMap(); // container -> its brackets' link plans, for a resize
  const chosen = new WeakMap(); // container -> the trial it shows selected

  function budgetText(budget, unit) {
    if (budget === null || budget === undefined) return "?";
    const one = budget === 1 && /s$/.test(unit || ""); // "1 epoch", not "1 epochs"
    return R.fmt(budget) + " " + R.esc(one ? unit.slice(0, -1) : unit || "");
  }

  function cellHtml(cell, selected) {
    const classes = ["cell", "state-" + cell.state];
    if (cell.manual) classes.push("manual");
    if (selected === cell.trial) classes.push("selected");
    const mark = MARK[cell.state] ? '<span class="mark">' + MARK[cell.state] + "</span>" : "";
    const badge = cell.manual ? '<span class="badge manual-badge" title="entered this rung by a manual promotion">hand</span>' : "";
    if (cell.noise) classes.push("noise");
    // The science fair's "average score ± its uncertainty": value ± 1.96 standard errors.
    const pm = cell.value !== null && cell.se !== null && cell.se !== undefined
      ? '<span class="pm" title="95 % interval: ± 1.96 standard errors">±' + Number((1.96 * cell.se).toPrecision(2)) + "</span>" : "";
    const value = cell.value !== null ? R.fmt(cell.value) + pm : (cell.has_result ? "NaN" : "");
    const tie = cell.promotion === "tie" ? '<span class="badge tie-badge" title="promoted as a tie (keep_ties): within noise of the last trial the rule kept">tie</span>' : "";
    const noise = cell.noise ? '<span class="badge noise-badge" title="its interval crosses the cut line: the validation set cannot tell which side it belongs on">≈ cut</span>' : "";
    return '<div class="' + classes.join(" ") + '" data-trial="' + cell.trial + '" data-number="' + cell.number +
      '" data-state="' + cell.state + '" data-manual="' + (cell.manual ? "1" : "0") + '" title="trial ' + cell.number +
      " · " + cell.status + (cell.promotion ? " · promoted " + ({manual: "by hand", tie: "as a tie: within noise of the last the rule kept"}[cell.promotion] || "by the rule") : "") + '">' +
      '<span class="rank">' + (cell.rank ? cell.rank + "." : "") + "</span>" +
      '<span class="swatch" style="background:' + R.trialColor(cell.number) + '"></span>' +
      '<span class="num">#' + cell.number + "</span>" + '<span class="val">' + value + "</span>" + mark + badge + tie + noise + "</div>";
  }

  /* How many of a rung's cells go on to the next rung: its planned size (successive halving
     and Hyperband), else how many the rule promoted so far. ``planned``: whether the line
     is the scheduler's (drawn) or only what happened (used to choose what to show). */
  function cutOf(rungs, i) {
    const next = rungs[i + 1];
    if (next && next.planned_size !== null && next.planned_size !== undefined) return {at: next.planned_size, planned: true};
    if (rungs[i].cut_at !== undefined) return {at: rungs[i].cut_at, planned: false}; // folded by the server
    return {at: rungs[i].cells.filter((c) => c.promotion === "rule").length, planned: false};
  }

  /* Which cells of a rung show while it is folded: a boolean per cell (all true for a small
     rung, or when the fold would hide fewer than MIN_FOLD). */
  function shownCells(cells, cut, selected) {
    const n = cells.length;
    if (cells.some((c) => c.gap)) return cells.map(() => true); // folded by the server already
    const show = cells.map((c, i) => i < HEAD || (cut > 0 && i >= cut - ABOVE_CUT && i < cut + BELOW_CUT) ||
      c.trial === selected || c.manual || c.promotion === "manual" || c.state === "running");
    // A lone hidden cell takes the row its fold row would: show it.
    for (let i = 0; i < n; i++) {
      if (!show[i] && (i === 0 || show[i - 1]) && (i === n - 1 || show[i + 1])) show[i] = true;
    }
    const hidden = show.filter((s) => !s).length;
    return n <= FOLD_OVER || hidden < MIN_FOLD ? cells.map(() => true) : show;
  }

  /* A rung's HTML, and where each of its trials is drawn: the trial's cell, or the fold
     row (or button) that holds it. */
  function rungHtml(b, rungs, i, data, selected) {
    const r = rungs[i];
    const key = b.bracket + ":" + r.rung;
    const cut = cutOf(rungs, i);
    const folded = shownCells(r.cells, cut.at, selected);
    const hidden = folded.filter((s) => !s).length;
    const open = Boolean(r.opened) || (hidden > 0 && unfolded.has(key));
    const show = open ? r.cells.map(() => true) : folded;
    const where = new Map(); // trial -> "cell" | gap index
    const parts = [];
    let gaps = 0, run = [], cutDrawn = false;
    // A "⋮ n" row for n folded ranks from rank index ``from`` on.
    const gapHtml = (from, n) => '<div class="gap" data-gap="' + gaps + '" data-hidden="' + n + '" title="ranks ' +
      (from + 1) + "–" + (from + n) + ' folded">⋮ ' + n + "</div>";
    const closeRun = (last) => {
      if (!run.length) return;
      if (!last) parts.push(gapHtml(run[0], run.length));
      for (const k of run) where.set(r.cells[k].trial, last ? "fold" : gaps);
      gaps += 1;
      run = [];
    };
    r.cells.forEach((c, k) => {
      const at = c.pos !== undefined ? c.pos : k; // its rank index in the whole rung
      if (cut.planned && !cutDrawn && at >= cut.at && cut.at > 0) {
        cutDrawn = true;
        closeRun(false);
        parts.push('<div class="cutline" title="the best ' + cut.at + " of this rung go on to the next\">" +
          "<span>top " + cut.at + (cut.at === 1 ? " goes" : " go") + " on</span></div>");
      }
      if (c.gap) {
        closeRun(false);
        parts.push(gapHtml(c.pos, c.gap));
        for (const t of c.trials) where.set(t, gaps);
        gaps += 1;
        return;
      }
      if (!show[k]) { run.push(k); return; }
      closeRun(false);
      where.set(c.trial, "cell");
      parts.push(cellHtml(c, selected));
    });
    closeRun(true); // the hidden tail is the fold button's
    if (r.folded || r.opened) {
      parts.push('<button type="button" class="fold" data-server="1" data-bracket="' + b.bracket + '" data-rung="' + r.rung +
        '" data-open="' + (r.opened ? 1 : 0) + '" aria-expanded="' + Boolean(r.opened) + '">' +
        (r.opened ? "− show fewer" : "+ " + r.folded + " more") + "</button>");
    } else if (hidden > 0) {
      parts.push('<button type="button" class="fold" data-key="' + key + '" data-hidden="' + hidden + '" aria-expanded="' + open +
        '">' + (open ? "− show fewer" : "+ " + hidden + " more") + "</button>");
    }
    const planned = r.planned_size !== null && r.planned_size !== undefined ? " / " + r.planned_size : "";
    // Does this budget predict the next one? Spearman's rho over the trials in both.
    const corr = r.next_corr && r.next_corr.rho !== null
      ? '<span class="corr" title="rank correlation of this rung\'s results with the next rung\'s, over the ' + r.next_corr.n +
        ' trials in both">ρ→next ' + r.next_corr.rho.toFixed(2) + " (n=" + r.next_corr.n + ")</span>" : "";
    const folds = r.folded || (open ? 0 : hidden);
    const html = '<div class="rung" data-rung="' + r.rung + '" data-size="' + r.size + '" data-hidden="' + folds + '">' +
      '<div class="rung-head"><strong>' + budgetText(r.budget, data.unit) + '</strong><span class="muted">rung ' + r.rung +
      " · " + r.size + planned + "</span>" + corr + "</div>" +
      '<div class="cells">' + parts.join("") + "</div></div>";
    return {html, where};
  }

  function render(container, data, selected, onSelect, onUnfold) {
    if (!data || !data.brackets) { container.innerHTML = ""; drawn.delete(container); return; }
    if (!data.brackets.length) { container.innerHTML = '<p class="muted">No trials yet.</p>'; drawn.delete(container); return; }
    // Reads before the write: where each bracket was scrolled to.
    const scrolled = new Map();
    for (const el of container.querySelectorAll(".rungs")) if (el.scrollLeft) scrolled.set(el.dataset.bracket, el.scrollLeft);
    const plans = [];
    const html = data.brackets.map((b) => {
      const where = new Map(); // rung -> its trials' places
      const rungs = b.rungs.map((r, i) => {
        const out = rungHtml(b, b.rungs, i, data, selected);
        where.set(r.rung, out.where);
        return out.html;
      }).join("");
      plans.push({bracket: String(b.bracket), promotions: b.promotions, where});
      return '<div class="bracket" data-bracket="' + b.bracket + '"><div class="bracket-title">bracket ' + b.bracket +
        '</div><div class="rungs" data-bracket="' + b.bracket + '">' + rungs + '<svg class="links" width="0" height="0"></svg></div></div>';
    }).join("");
    container.innerHTML = html;
    for (const [bracket, left] of scrolled) {
      const el = container.querySelector('.rungs[data-bracket="' + bracket + '"]');
      if (el) el.scrollLeft = left;
    }
    drawn.set(container, plans);
    chosen.set(container, selected);
    drawLinks(container, plans);
    container.onclick = (ev) => {
      const fold = ev.target.closest("button.fold");
      if (fold && fold.dataset.server) {
        if (onUnfold) onUnfold(Number(fold.dataset.bracket), Number(fold.dataset.rung), fold.dataset.open !== "1");
        return;
      }
      if (fold) {
        if (unfolded.has(fold.dataset.key)) unfolded.delete(fold.dataset.key);
        else unfolded.add(fold.dataset.key);
        render(container, data, chosen.get(container), onSelect, onUnfold);
        return;
      }
      const cell = ev.target.closest(".cell");
      if (cell) onSelect(Number(cell.dataset.trial));
    };
  }

  /* Shows ``selected`` (a trial id or null) as the selected trial without drawing the
     brackets again (which lays every line out anew: most of a click's time on a big sweep);
     false when a fold hides one of its cells, and the caller renders, which shows them. */
  function mark(container, selected) {
    const plans = drawn.get(container);
    if (!plans) return false;
    if (selected !== null) {
      for (const plan of plans) for (const where of plan.where.values()) {
        const w = where.get(selected);
        if (w !== undefined && w !== "cell") return false;
      }
    }
    for (const el of container.querySelectorAll(".cell.selected")) el.classList.remove("selected");
    if (selected !== null) for (const el of container.querySelectorAll('.cell[data-trial="' + selected + '"]')) el.classList.add("selected");
    chosen.set(container, selected);
    return true;
  }

  /* The promotion lines of every bracket: all reads first (one layout), then all writes. */
  function drawLinks(container, plans) {
    const jobs = [];
    for (const plan of plans) {
      const rungsEl = container.querySelector('.rungs[data-bracket="' + plan.bracket + '"]');
      if (!rungsEl) continue;
      const places = new Map(); // "rung:trial" | "rung:gap" -> element, from one pass each
      for (const rung of rungsEl.querySelectorAll(".rung")) {
        for (const el of rung.querySelectorAll(".cell")) places.set(rung.dataset.rung + ":" + el.dataset.trial, el);
        for (const el of rung.querySelectorAll(".gap")) places.set(rung.dataset.rung + ":g" + el.dataset.gap, el);
        const fold = rung.querySelector("button.fold");
        if (fold) places.set(rung.dataset.rung + ":fold", fold);
      }
      const ends = [];
      const seen = new Set();
      for (const p of plan.promotions) {
        const a = endOf(plan, places, p.from, p.trial), z = endOf(plan, places, p.to, p.trial);
        if (!a || !z || (!a.cell && !z.cell)) continue; // both folded: no line to show
        // Lines that start and end at the same places are one line.
        const id = a.key + ">" + z.key;
        if (!a.cell || !z.cell) { if (seen.has(id)) continue; seen.add(id); }
        ends.push({p, a, z});
      }
      jobs.push({rungsEl, svg: rungsEl.querySelector("svg.links"), ends});
    }
    // Reads.
    for (const job of jobs) {
      const el = job.rungsEl;
      const box = el.getBoundingClientRect();
      job.size = [el.scrollWidth, el.scrollHeight];
      const dx = el.scrollLeft - box.left - el.clientLeft, dy = el.scrollTop - box.top - el.clientTop;
      job.paths = job.ends.map(({p, a, z}) => {
        const ra = a.el.getBoundingClientRect(), rz = z.el.getBoundingClientRect();
        return {p, number: Number(a.cell ? a.el.dataset.number : z.el.dataset.number), folded: !a.cell || !z.cell,
          x1: ra.right + dx, y1: ra.top + ra.height / 2 + dy, x2: rz.left + dx, y2: rz.top + rz.height / 2 + dy};
      });
    }
    // Writes.
    for (const job of jobs) {
      job.svg.setAttribute("width", job.size[0]);
      job.svg.setAttribute("height", job.size[1]);
      job.svg.innerHTML = job.paths.map(({p, number, folded, x1, y1, x2, y2}) => {
        const mid = (x1 + x2) / 2;
        return '<path class="link' + (p.manual ? " manual" : "") + (folded ? " folded" : "") + '" data-trial="' + p.trial + '" data-from="' + p.from +
          '" d="M' + x1 + "," + y1 + " C" + mid + "," + y1 + " " + mid + "," + y2 + " " + x2 + "," + y2 +
          '" stroke="' + R.trialColor(number) + '"' + (p.manual ? ' stroke-dasharray="5 4"' : "") + "/>";
      }).join("");
    }
  }

  /* Where a trial is drawn in a rung: its cell, or the fold row that holds it. */
  function endOf(plan, places, rung, trial) {
    const where = plan.where.get(rung);
    const w = where && where.get(trial);
    if (w === undefined) return null;
    const key = rung + ":" + (w === "cell" ? trial : w === "fold" ? "fold" : "g" + w);
    const el = places.get(key);
    return el ? {el, key, cell: w === "cell"} : null;
  }

  /* The lines again (a resize moves the cells, not what they show); once per frame. */
  let pending = null;
  function relink(container) {
    if (pending) return;
    pending = requestAnimationFrame(() => {
      pending = null;
      const plans = drawn.get(container);
      if (plans) drawLinks(container, plans);
    });
  }

  window.RungsBracket = {render, mark, relink, unfolded};
})();
