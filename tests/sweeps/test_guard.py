"""The input guard: every JSON value Rungs reads is refused with a field and a rule when no
column, numpy array or recursive walk could hold it — never with a crash."""

from __future__ import annotations

from typing import Any

import pytest

from sweeps.guard import MAX_DEPTH, MAX_INT, MAX_STRING, check_json, check_text, parse_json
from sweeps.search.space import SpaceError


def errors_of(call: Any, *args: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(SpaceError) as caught:
        call(*args, **kwargs)
    return caught.value.errors


@pytest.mark.parametrize(
    ("value", "path", "rule"),
    [
        ({"a": MAX_INT + 1}, "body.a", "between"),
        ({"a": [1, -(10**400)]}, "body.a[1]", "between"),
        ({"a": float("nan")}, "body.a", "finite"),
        ({"a": float("inf")}, "body.a", "finite"),
        ({"a": "x\x00y"}, "body.a", "NUL"),
        ({"x\x00": 1}, "body.<key>", "NUL"),
        ({"a": "x" * (MAX_STRING + 1)}, "body.a", "characters"),
        ({"a": object()}, "body.a", "must be JSON"),
        ({1: "a"}, "body", "keys must be strings"),
    ],
)
def test_values_no_field_may_hold_are_refused(value: Any, path: str, rule: str) -> None:
    errors = errors_of(check_json, value, "body")
    assert list(errors) == [path] and rule in errors[path]


def test_the_largest_values_a_column_holds_pass() -> None:
    check_json({"a": [MAX_INT, -MAX_INT, 1e308, "x" * MAX_STRING, None, True]})


def test_depth_is_limited_without_recursion() -> None:
    value: Any = 1
    for _ in range(100_000):  # far past the interpreter's recursion limit
        value = [value]
    errors = errors_of(check_json, value, "params")
    [(path, rule)] = errors.items()
    assert path.startswith("params[0]") and f"deeper than {MAX_DEPTH}" in rule


def test_a_document_names_its_fields_by_their_own_paths() -> None:
    assert errors_of(check_json, {"seed": 2**64}, "spec", document=True) == {
        "seed": f"must be an integer between {-MAX_INT} and {MAX_INT}"
    }
    assert list(errors_of(check_json, [2**64], "spec", document=True)) == ["spec[0]"]
    assert list(errors_of(check_json, {"seed": 2**64}, "spec")) == ["spec.seed"]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested deeper"),
        ('{"a": ', "JSON parse error"),
        ('{"a": NaN}', "JSON parse error"),
        ('{"a": Infinity}', "JSON parse error"),
        (b"\xff\xfe\x00", "JSON parse error"),
        ("1" * 5000, "JSON parse error"),  # Python refuses to read ints past 4,300 digits
    ],
)
def test_parse_json_turns_every_failure_into_a_400_naming_the_field(
    text: str | bytes, rule: str
) -> None:
    errors = errors_of(parse_json, text, "frame")
    assert list(errors) == ["frame"] and rule in errors["frame"]


def test_parse_json_limits_size_and_checks_values() -> None:
    assert "at most 10 bytes" in errors_of(parse_json, '"' + "x" * 20 + '"', "frame", 10)["frame"]
    assert list(errors_of(parse_json, '{"a": "\\u0000"}', "frame")) == ["frame.a"]
    assert list(errors_of(parse_json, '{"a": "\\u0000"}', "body", document=True)) == ["a"]
    assert parse_json(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}


def test_check_text_refuses_nul_and_length() -> None:
    assert check_text("train_loss", "name", 32) == "train_loss"
    assert "NUL" in errors_of(check_text, "a\x00", "name")["name"]
    assert "at most 3" in errors_of(check_text, "abcd", "name", 3)["name"]
