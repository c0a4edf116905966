/* The science-fair bracket: rungs as columns, trials as cells ranked by their rung result,
   lines to the rung a trial was promoted to (dashed + badge when by hand). */
"use strict";

(function () {
  const R = window.Rungs;
  const MARK = {killed: "✕", paused: "II", failed: "err", completed: "✓", waiting: "…"};

  function budgetText(budget, unit) {
    if (budget === null || budget === undefined) return "?";
    return R.fmt(budget) + " " + (unit || "");
  }

  function cellHtml(cell, selected) {
    const classes = ["cell", "state-" + cell.state];
    if (cell.manual) classes.push("manual");
    if (selected === cell.trial) classes.push("selected");
    const mark = MARK[cell.state] ? '<span class="mark">' + MARK[cell.state] + "</span>" : "";
    const badge = cell.manual ? '<span class="badge manual-badge" title="entered this rung by a manual promotion">hand</span>' : "";
    const value = cell.value !== null ? R.fmt(cell.value) : (cell.has_result ? "NaN" : "");
    const rank = cell.rank ? '<span class="rank">' + cell.rank + ".</span>" : "";
    return '<div class="' + classes.join(" ") + '" data-trial="' + cell.trial + '" data-number="' + cell.number +
      '" data-state="' + cell.state + '" data-manual="' + (cell.manual ? "1" : "0") + '" title="trial ' + cell.number +
      " · " + cell.status + (cell.promotion ? " · promoted " + (cell.promotion === "manual" ? "by hand" : "by the rule") : "") + '">' +
      rank + '<span class="swatch" style="background:' + R.trialColor(cell.number) + '"></span>#' + cell.number +
      ' <span class="val">' + value + "</span>" + mark + badge + "</div>";
  }

  function render(container, data, selected, onSelect) {
    if (!data || !data.brackets) { container.innerHTML = ""; return; }
    if (!data.brackets.length) { container.innerHTML = '<p class="muted">No trials yet.</p>'; return; }
    const html = data.brackets.map((b) => {
      const rungs = b.rungs.map((r) => {
        const planned = r.planned_size !== null && r.planned_size !== undefined ? " / " + r.planned_size : "";
        return '<div class="rung" data-rung="' + r.rung + '" data-size="' + r.size + '">' +
          '<div class="rung-head"><strong>' + budgetText(r.budget, data.unit) + "</strong><br><span class=\"muted\">rung " + r.rung +
          " · " + r.size + planned + "</span></div>" +
          '<div class="cells">' + r.cells.map((c) => cellHtml(c, selected)).join("") + "</div></div>";
      }).join("");
      return '<div class="bracket" data-bracket="' + b.bracket + '"><div class="bracket-title">bracket ' + b.bracket +
        '</div><div class="rungs">' + rungs + '<svg class="links"></svg></div></div>';
    }).join("");
    container.innerHTML = html;
    data.brackets.forEach((b) => drawLinks(container.querySelector('.bracket[data-bracket="' + b.bracket + '"]'), b));
    container.onclick = (ev) => {
      const cell = ev.target.closest(".cell");
      if (cell) onSelect(Number(cell.dataset.trial));
    };
  }

  function drawLinks(el, b) {
    if (!el) return;
    const rungsEl = el.querySelector(".rungs");
    const svg = el.querySelector("svg.links");
    const box = rungsEl.getBoundingClientRect();
    svg.setAttribute("width", rungsEl.scrollWidth);
    svg.setAttribute("height", rungsEl.scrollHeight);
    const parts = [];
    for (const p of b.promotions) {
      const a = rungsEl.querySelector('.rung[data-rung="' + p.from + '"] .cell[data-trial="' + p.trial + '"]');
      const z = rungsEl.querySelector('.rung[data-rung="' + p.to + '"] .cell[data-trial="' + p.trial + '"]');
      if (!a || !z) continue;
      const ra = a.getBoundingClientRect(), rz = z.getBoundingClientRect();
      const x1 = ra.right - box.left + rungsEl.scrollLeft, y1 = ra.top + ra.height / 2 - box.top + rungsEl.scrollTop;
      const x2 = rz.left - box.left + rungsEl.scrollLeft, y2 = rz.top + rz.height / 2 - box.top + rungsEl.scrollTop;
      const mid = (x1 + x2) / 2;
      const number = Number(a.dataset.number);
      parts.push('<path class="link' + (p.manual ? " manual" : "") + '" data-trial="' + p.trial + '" data-from="' + p.from +
        '" d="M' + x1 + "," + y1 + " C" + mid + "," + y1 + " " + mid + "," + y2 + " " + x2 + "," + y2 +
        '" stroke="' + R.trialColor(number) + '"' + (p.manual ? ' stroke-dasharray="5 4"' : "") + "/>");
    }
    svg.innerHTML = parts.join("");
  }

  window.RungsBracket = {render};
})();
