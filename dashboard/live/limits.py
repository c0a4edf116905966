"""What a sweep page is sent fits under one cap, ``RUNGS_SOCKET_MAX_BYTES`` (daphne's own
WebSocket limit is set to match; past it daphne closed the socket, 1011, and the page
reconnected forever, rebuilding a 13 MB snapshot each time at 10,000 trials).

- :func:`visible_trials` and :func:`bracket_view`: what a page is shown of a big sweep at
  first (pure). The trial rows and the bracket were 4.2 MB and 3.2 MB of that snapshot,
  the curves of every trial 5.5 MB; a page gets the rows of the trials worth watching and
  the bracket folded as the page folds it, and asks for the rest (:mod:`.pages`).
- :func:`fit`: one message as texts that each fit the cap (split where it can be split),
  or None: the consumer then tells the page to reload instead of sending it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings

from sweeps.states import TrialStatus

TRIAL_ROWS = 200  # trial rows a page gets at first; a sweep with more gets a choice of them
BEST_ROWS = 50  # of which the best by the objective
CURVE_TRIALS, CURVE_BEST = 60, 30  # trials whose curves a page draws at first; the best
BRACKET_CELLS = 1500  # a bracket of at most this many cells is sent whole
BRACKETS_SHOWN = 8  # brackets a bigger one shows (live ones first, then the best's, newest)
# As static/js/bracket.js folds a rung: more than FOLD_OVER cells show their top HEAD ranks,
# the ranks around the promotion cut and the trials worth finding.
FOLD_OVER, HEAD, ABOVE_CUT, BELOW_CUT, MIN_FOLD = 12, 6, 2, 1, 3
OPEN_STATES = ("pending", "running", "waiting", "paused")  # a cell whose fate is still open
SPLIT = ("trials", "events", "points")  # list fields a message may carry in several parts
MOVABLE = ("analytics", "bracket", "sweep")  # fields a part of their own may carry, biggest first
ENVELOPE = 256  # bytes left in each part for its type, cursor and times


def max_bytes() -> int:
    """The most bytes one socket message may carry."""
    return int(settings.RUNGS_SOCKET_MAX_BYTES)


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def size(text: str) -> int:
    """Bytes ``text`` takes on the wire (UTF-8)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


# --- what a page is shown at first -----------------------------------------------------------


def visible_trials(
    rows: Sequence[Mapping[str, Any]], mode: str, limit: int = TRIAL_ROWS, best: int = BEST_ROWS
) -> list[Mapping[str, Any]]:
    """The trial rows a page gets at first, in number order: all of a small sweep; of a
    bigger one the running trials (and those whose worker has not let go), the other live
    ones, the ``best`` by their best value, then the newest, ``limit`` in all. The curves
    a page draws at first are those of :func:`curve_trials`."""
    if len(rows) <= limit:
        return sorted(rows, key=lambda t: t["number"])
    chosen: dict[int, Mapping[str, Any]] = {}

    def take(seq: Iterable[Mapping[str, Any]], most: int = limit) -> None:
        for row in seq:
            if len(chosen) >= most:
                return
            chosen.setdefault(row["id"], row)

    take(t for t in rows if t["status"] == TrialStatus.RUNNING or t.get("worker"))
    take(t for t in rows if t["status"] in TrialStatus.ACTIVE)
    sign = 1.0 if mode == "min" else -1.0
    scored = [t for t in rows if _finite(t.get("best_value"))]
    scored.sort(key=lambda t: (sign * t["best_value"], t["number"]))
    take(scored, min(limit, len(chosen) + best))
    take(sorted(rows, key=lambda t: -t["number"]))
    return sorted(chosen.values(), key=lambda t: t["number"])


def curve_trials(rows: Sequence[Mapping[str, Any]], mode: str) -> list[Mapping[str, Any]]:
    """The trials whose curves a page draws at first, chosen as :func:`visible_trials`
    chooses rows, ``CURVE_TRIALS`` of them: 200 trials' curves were 800 traces, most of a
    big sweep's first draw and of every restyle. A page adds any other trial's curves when
    it is selected (:func:`dashboard.live.pages.curves`)."""
    return visible_trials(rows, mode, limit=CURVE_TRIALS, best=CURVE_BEST)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def bracket_view(payload: Mapping[str, Any], best: int | None = None) -> dict[str, Any]:
    """The bracket as a page is sent it: whole up to ``BRACKET_CELLS`` cells; past that the
    brackets worth watching (with an open cell, then the one holding trial ``best``, then
    the newest; ``BRACKETS_SHOWN`` in all), each rung of more than ``FOLD_OVER`` cells folded
    as the page folds it, and ``omitted``: what was left out.

    A folded rung (``folded``: how many cells it hides) has gap entries among its cells,
    ``{"gap": n, "pos": rank index, "trials": [...]}`` (``trials``: the hidden ones a drawn
    promotion line ends at), every cell its ``pos``, and ``cut_at``: how many of the whole
    rung went on. Promotions between two hidden cells are left out (the page draws none)."""
    brackets = payload.get("brackets") or []
    cells = sum(len(r["cells"]) for b in brackets for r in b["rungs"])
    if cells <= BRACKET_CELLS:
        return dict(payload)
    ranked = sorted(brackets, key=lambda b: -b["bracket"])
    chosen: dict[int, Mapping[str, Any]] = {}
    open_ones = [b for b in ranked if _has_open_cell(b)]
    holding = [b for b in ranked if best is not None and _holds(b, best)]
    for b in [*open_ones, *holding, *ranked]:
        if len(chosen) >= BRACKETS_SHOWN:
            break
        chosen.setdefault(b["bracket"], b)
    shown = [fold_bracket(b) for b in sorted(chosen.values(), key=lambda b: b["bracket"])]
    left = [b for b in brackets if b["bracket"] not in chosen]
    return {
        **payload,
        "brackets": shown,
        "omitted": {
            "brackets": len(left),
            "trials": sum(len(b["rungs"][0]["cells"]) if b["rungs"] else 0 for b in left),
        },
    }


def _has_open_cell(b: Mapping[str, Any]) -> bool:
    return any(c["state"] in OPEN_STATES for r in b["rungs"] for c in r["cells"])


def _holds(b: Mapping[str, Any], trial: int) -> bool:
    return any(c["trial"] == trial for r in b["rungs"] for c in r["cells"])


def fold_bracket(b: Mapping[str, Any]) -> dict[str, Any]:
    """One bracket with its big rungs folded (see :func:`bracket_view`)."""
    rungs = b["rungs"]
    folded = []
    shown: dict[int, set[int]] = {}
    for i, r in enumerate(rungs):
        nxt = rungs[i + 1] if i + 1 < len(rungs) else None
        if nxt is not None and nxt.get("planned_size") is not None:
            cut = int(nxt["planned_size"])
        else:
            cut = sum(1 for c in r["cells"] if c.get("promotion") == "rule")
        rung, keep = _fold_rung(r, cut)
        folded.append(rung)
        shown[r["rung"]] = keep
    promotions = [
        p
        for p in b.get("promotions", [])
        if p["trial"] in shown.get(p["from"], ()) or p["trial"] in shown.get(p["to"], ())
    ]
    ends: dict[int, set[int]] = {}
    for p in promotions:
        ends.setdefault(p["from"], set()).add(p["trial"])
        ends.setdefault(p["to"], set()).add(p["trial"])
    for rung in folded:
        wanted = ends.get(rung["rung"], set())
        for entry in rung["cells"]:
            if "gap" in entry:
                entry["trials"] = [t for t in entry["trials"] if t in wanted]
    return {**b, "rungs": folded, "promotions": promotions}


def _fold_rung(r: Mapping[str, Any], cut: int) -> tuple[dict[str, Any], set[int]]:
    """A rung folded as static/js/bracket.js folds it, and the trials it still shows."""
    cells = r["cells"]
    n = len(cells)
    if n <= FOLD_OVER:
        return dict(r), {c["trial"] for c in cells}
    show = [
        i < HEAD
        or (cut > 0 and cut - ABOVE_CUT <= i < cut + BELOW_CUT)
        or c.get("manual")
        or c.get("promotion") == "manual"
        or c["state"] == "running"
        for i, c in enumerate(cells)
    ]
    for i in range(n):  # a lone hidden cell takes the row its gap would: show it
        if not show[i] and (i == 0 or show[i - 1]) and (i == n - 1 or show[i + 1]):
            show[i] = True
    hidden = show.count(False)
    if hidden < MIN_FOLD:
        return dict(r), {c["trial"] for c in cells}
    entries: list[dict[str, Any]] = []
    run: list[int] = []
    for i, c in enumerate(cells):
        if not show[i]:
            run.append(i)
            continue
        if run:
            entries.append(_gap(cells, run))
            run = []
        entries.append({**c, "pos": i})
    if run:
        entries.append(_gap(cells, run))
    keep = {c["trial"] for i, c in enumerate(cells) if show[i]}
    return {**r, "cells": entries, "folded": hidden, "cut_at": cut}, keep


def _gap(cells: Sequence[Mapping[str, Any]], run: list[int]) -> dict[str, Any]:
    return {"gap": len(run), "pos": run[0], "trials": [cells[k]["trial"] for k in run]}


# --- messages within the cap -----------------------------------------------------------------


def fit(message: Mapping[str, Any], cap: int | None = None) -> list[str] | None:
    """``message`` as texts of at most ``cap`` bytes each (default :func:`max_bytes`),
    sent in order; None when it cannot be split so.

    A ``snapshot`` or ``inc`` splits into parts: the first keeps its type (and the curve
    figures, which stay whole), the rest are ``inc`` messages (``"part": "snapshot"`` when
    they carry the rest of a snapshot); only the last carries the
    cursor (and the points' times), so a page that loses the socket in between resumes
    from the cursor before them. Its trials, events and points go out in chunks, and its
    sweep, bracket and analysis panels in parts of their own when they do not fit beside
    the rest. The analysis panels (``analytics`` messages) go one panel a message, their
    numbers rounded to five digits; a panel still over the cap is sent as an empty figure
    that says why.
    """
    cap = max_bytes() if cap is None else cap
    text = dumps(message)
    if size(text) <= cap:
        return [text]
    kind = message.get("type")
    if kind == "analytics":
        return _fit_analytics({k: v for k, v in message.items() if k != "type"}, cap)
    if kind not in ("snapshot", "inc"):
        return None
    tail_keys = ("cursor", "tmax", "tmin")
    tail = {k: message[k] for k in tail_keys if k in message}
    head = {k: v for k, v in message.items() if k not in SPLIT and k not in tail_keys}
    parts: list[dict[str, Any]] = []
    out: list[str] = []
    if size(dumps(head)) + ENVELOPE > cap:
        for key in MOVABLE:
            if key in head and size(dumps(head)) + ENVELOPE > cap:
                value = head.pop(key)
                if key == "analytics" and value is not None:
                    more = _fit_analytics(value, cap)
                    if more is None:
                        return None
                    out.extend(more)
                else:
                    parts.append({"type": "inc", key: value})
        if size(dumps(head)) + ENVELOPE > cap:
            return None
    budget = cap - ENVELOPE
    for key in SPLIT:
        items = message.get(key)
        if not items:
            continue
        if key == "points":
            items = [piece for group in items for piece in _split_group(group, budget)]
        chunk: list[Any] = []
        used = 0
        for item in items:
            n = size(dumps(item)) + 1
            if n + len(key) + 8 > budget:
                return None
            if chunk and used + n + len(key) + 8 > budget:
                parts.append({"type": "inc", key: chunk})
                chunk, used = [], 0
            chunk.append(item)
            used += n
        parts.append({"type": "inc", key: chunk})
    if kind == "snapshot":
        parts = [{**p, "part": "snapshot"} for p in parts]
    texts = [head, *parts]
    texts[-1] = {**texts[-1], **tail}
    encoded = [dumps(p) for p in texts]
    if any(size(t) > cap for t in encoded):
        return None
    # The first part (the snapshot) goes first, then the panels moved out, then the rest.
    return [encoded[0], *out, *encoded[1:]]


def outgoing(text: str) -> tuple[list[str], bool]:
    """What to send for ``text`` (a JSON object), each within the cap, and whether the page
    must then be told to reload: ``text`` itself, its parts (:func:`fit`), an error answer
    in place of a reply too big, or a ``reload`` notice (the socket then closes)."""
    cap = max_bytes()
    if size(text) <= cap:
        return [text], False
    message = json.loads(text)
    parts = fit(message, cap)
    if parts is not None:
        return parts, False
    if message.get("type") in ("reply", "error"):
        rule = f"the answer is {size(text)} bytes, over the socket's {cap}"
        answer = {
            "type": "error", "ref": message.get("ref"), "action": message.get("action"),
            "ok": False, "code": 413, "errors": {"message": rule},
        }  # fmt: skip
        return [dumps(answer)], False
    notice = {"type": "reload", "reason": "too_big", "bytes": size(text), "cap": cap}
    return [dumps(notice)], True


def _split_group(group: Mapping[str, Any], budget: int) -> list[dict[str, Any]]:
    """A points group ``{"t", "n", "s", "v"}`` cut into groups that fit ``budget``."""
    if size(dumps(group)) + 16 <= budget or len(group["s"]) < 2:
        return [dict(group)]
    half = len(group["s"]) // 2
    first = {**group, "s": group["s"][:half], "v": group["v"][:half]}
    second = {**group, "s": group["s"][half:], "v": group["v"][half:]}
    return [*_split_group(first, budget), *_split_group(second, budget)]


def _fit_analytics(panels: Mapping[str, Any], cap: int) -> list[str] | None:
    out = []
    for key, panel in panels.items():
        text = dumps({"type": "analytics", "partial": True, key: panel})
        if isinstance(panel, dict) and "data" in panel:
            # Panels this big are a big sweep's: five digits draw them the same, in half the
            # bytes (the parallel coordinates of 10,000 trials: 0.99 MB as written).
            text = dumps({"type": "analytics", "partial": True, key: _rounded(panel)})
            if size(text) > cap:
                text = dumps({"type": "analytics", "partial": True, key: _too_big(panel, cap)})
        if size(text) > cap:
            return None
        out.append(text)
    return out


def _rounded(value: Any) -> Any:
    """A figure with its floats at five significant digits (what the curves carry)."""
    if isinstance(value, float):
        return float(f"{value:.5g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _too_big(figure: Mapping[str, Any], cap: int) -> dict[str, Any]:
    """An empty figure in place of one too big for the socket, saying so."""
    layout = dict(figure.get("layout") or {})
    layout["annotations"] = [
        {
            "text": f"too many points to draw live (over the socket's {cap:,} bytes)",
            "xref": "paper",
            "yref": "paper",
            "x": 0.5,
            "y": 0.5,
            "showarrow": False,
        }
    ]
    return {"data": [], "layout": layout, "too_big": True}
