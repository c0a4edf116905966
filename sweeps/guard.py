"""The one input guard: what any JSON that reaches Rungs (REST bodies, socket frames, spec
files, admin fields) must be before a rule of its own is even asked.

JSON itself has no limits that the database or numpy share: integers of any length (an
``OverflowError`` in ``math.isfinite`` past ~308 digits), nesting of any depth (a
``RecursionError`` in the parser, and in every recursive walk after it), and NUL characters
(PostgreSQL refuses them in text). :func:`parse_json` and :func:`check_json` turn each of those
into a :class:`~sweeps.search.space.SpaceError` naming the field, so callers answer 400 and
change nothing. Pure Python: no Django.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sweeps.search.space import SpaceError

MAX_DEPTH = 32  # a spec is at most ~5 deep; 32 leaves room and is far from the recursion limit
MAX_INT = 2**63 - 1  # what a BIGINT column (and numpy's int64) holds
MAX_STRING = 100_000  # characters of any one string


def check_json(value: Any, field: str = "body", *, document: bool = False) -> None:
    """Raise :class:`SpaceError` for the first value in ``value`` that no field may hold.

    ``field`` names ``value`` in the error. With ``document``, ``value`` is a whole request
    body or spec: ``field`` names it only when it is bad as a whole, and the values inside
    are named by their own paths (``trainer_args.x``), as every other 400 names them.
    Walks without recursion, so a deep value is refused with a message, not a crash.
    """
    stack: list[tuple[Any, str, int]] = [(value, field, 1)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SpaceError({path: f"is nested deeper than {MAX_DEPTH} levels"})
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int):
            if not -MAX_INT <= item <= MAX_INT:
                # No repr: a 5,000-digit number would fill the error.
                raise SpaceError({path: f"must be an integer between {-MAX_INT} and {MAX_INT}"})
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise SpaceError({path: f"must be a finite number, got {item!r}"})
        elif isinstance(item, str):
            _check_string(item, path)
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise SpaceError({path: f"keys must be strings, got {key!r}"})
                _check_string(key, f"{path}.<key>")
                bare = not path or (document and depth == 1)
                stack.append((child, key if bare else f"{path}.{key}", depth + 1))
        elif isinstance(item, list | tuple):
            for index, child in enumerate(item):
                stack.append((child, f"{path}[{index}]", depth + 1))
        else:
            raise SpaceError({path: f"must be JSON, got {type(item).__name__}"})


def _check_string(text: str, path: str) -> None:
    if "\x00" in text:
        raise SpaceError({path: "must not contain NUL characters"})
    if len(text) > MAX_STRING:
        raise SpaceError({path: f"must be at most {MAX_STRING} characters"})


def parse_json(
    text: str | bytes,
    field: str = "body",
    max_bytes: int | None = None,
    *,
    document: bool = False,
) -> Any:
    """Parse ``text`` as JSON that passes :func:`check_json`, or raise :class:`SpaceError`.

    ``field`` names the text in parse errors; ``document`` as for :func:`check_json`.
    """
    if max_bytes is not None and len(text) > max_bytes:
        raise SpaceError({field: f"must be at most {max_bytes} bytes"})
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise SpaceError({field: f"is nested deeper than {MAX_DEPTH} levels"}) from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        # DRF's wording, which API clients have matched on since the first release.
        raise SpaceError({field: f"JSON parse error - {exc}"}) from None
    check_json(value, field, document=document)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_text(text: str, field: str, max_length: int = MAX_STRING) -> str:
    """``text`` (a query parameter, a form field) if it has no NUL and at most ``max_length``
    characters; :class:`SpaceError` naming ``field`` otherwise."""
    if "\x00" in text:
        raise SpaceError({field: "must not contain NUL characters"})
    if len(text) > max_length:
        raise SpaceError({field: f"must be at most {max_length} characters"})
    return text
