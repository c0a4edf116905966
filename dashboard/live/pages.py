"""What a page asks for beyond its first message, answered from its sweep's live state (no
database read): the next page of trial rows (or the trials a search finds), and a folded
rung whole; and one trial's curves, which a page draws only for some trials at first
(read from the database, up to the live cursor).

    {"action": "trials", "offset": 200, "limit": 500}
    {"action": "trials", "q": "optimizer=adam"}
    {"action": "curves", "trial": 4321}
    {"action": "rung", "bracket": 3, "rung": 0}

Answers have the steering replies' shape (:mod:`dashboard.steering`): ``{"type": "reply",
"ref", "action", "ok": true, ...}`` or ``{"type": "error", ..., "errors": {field: rule}}``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from sweeps import queries

from .state import LiveState
from .threads import on_reader

READS = ("trials", "rung", "curves")
TRIAL_PAGE = 500  # most trial rows one answer carries
RUNG_PAGE = 2000  # most cells of one rung an answer carries
FIND_MAX = 200  # longest search text


class Unanswerable(ValueError):
    """A read that names no rows; ``field`` is the one at fault."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        super().__init__(rule)


def _int(message: dict[str, Any], key: str, default: int | None = None) -> int:
    value = message.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Unanswerable(key, f"must be a whole number >= 0, got {value!r}")
    return value


def answer(state: LiveState, message: dict[str, Any]) -> dict[str, Any]:
    """The reply to a page's read ``message`` of rows or a rung (see :func:`curves`)."""
    try:
        body = (
            _trials(state, message) if message.get("action") == "trials" else _rung(state, message)
        )
    except Unanswerable as exc:
        return _refused(message, exc)
    return _reply(message, body)


async def curves(
    state: LiveState, sweep_id: int, upto: int, message: dict[str, Any]
) -> dict[str, Any]:
    """The reply to ``{"action": "curves", "trial": id}``: that trial's thinned series of
    the sweep's chart metrics up to ``upto`` (the live cursor: later points come as
    increments), as the first message carries them."""
    try:
        trial = _int(message, "trial")
        if trial not in state.trials:
            raise Unanswerable("trial", f"no trial {trial} in this sweep")
    except Unanswerable as exc:
        return _refused(message, exc)
    read = partial(queries.metric_series, sweep_id, trials=[trial], upto=upto)
    data = await on_reader(read)
    return _reply(message, {"trial": trial, "series": data["series"]})


def _reply(message: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "reply", "ref": message.get("ref"), "action": message.get("action"),
            "ok": True, **body}  # fmt: skip


def _refused(message: dict[str, Any], exc: Unanswerable) -> dict[str, Any]:
    return {
        "type": "error", "ref": message.get("ref"), "action": message.get("action"), "ok": False,
        "code": 400, "errors": {exc.field: str(exc)},
    }  # fmt: skip


def _trials(state: LiveState, message: dict[str, Any]) -> dict[str, Any]:
    """Trial rows in number order, from ``offset``, at most ``limit`` (<= TRIAL_PAGE); with
    ``q``, only the trials it finds (:func:`finds`), ``total`` counting those."""
    offset = _int(message, "offset", 0)
    limit = min(_int(message, "limit", TRIAL_PAGE), TRIAL_PAGE)
    rows = sorted(state.trials.values(), key=lambda t: t["number"])
    q = message.get("q")
    if q is not None:
        if not isinstance(q, str) or not q.strip() or len(q) > FIND_MAX:
            raise Unanswerable("q", f"must be a text of 1 to {FIND_MAX} characters, got {q!r}")
        rows = [t for t in rows if finds(q, t)]
    return {"trials": rows[offset : offset + limit], "offset": offset, "total": len(rows)}


def finds(q: str, row: dict[str, Any]) -> bool:
    """Whether the search text ``q`` finds trial ``row``: a number (``12`` or ``#12``) finds
    that trial; other text finds, case aside, a status (``running``) or a parameter, by
    name, value or ``name=value`` (``adam``, ``optimizer=adam``, ``lr=0.01``)."""
    q = q.strip().lower()
    number = q.removeprefix("#")
    if number.isdigit():
        return row["number"] == int(number)
    if q == str(row.get("status", "")).lower():
        return True
    return any(q in f"{k}={v}".lower() for k, v in (row.get("params") or {}).items())


def _rung(state: LiveState, message: dict[str, Any]) -> dict[str, Any]:
    """Every cell of one rung (its first RUNG_PAGE) and the promotions into and out of it."""
    number, rung_no = _int(message, "bracket"), _int(message, "rung")
    for b in state.bracket.get("brackets", []):
        if b["bracket"] != number:
            continue
        for r in b["rungs"]:
            if r["rung"] == rung_no:
                cells = r["cells"][:RUNG_PAGE]
                shown = {c["trial"] for c in cells}
                promotions = [
                    p
                    for p in b["promotions"]
                    if p["trial"] in shown and rung_no in (p["from"], p["to"])
                ]
                return {
                    "bracket": number,
                    "rung": {**r, "cells": cells, "more": len(r["cells"]) - len(cells)},
                    "promotions": promotions,
                }
        raise Unanswerable("rung", f"bracket {number} has no rung {rung_no}")
    raise Unanswerable("bracket", f"no bracket {number} in this sweep")
