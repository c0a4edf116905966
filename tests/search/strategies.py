"""Hypothesis strategies: valid search-space specs of every kind."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from sweeps.search import Space, parse_space

# Deterministic, bounded property runs (the whole tests/search suite stays well under 60 s).
# Applied per test rather than as a loaded profile, so other test packages keep theirs.
FAST = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def float_spec(draw: st.DrawFn) -> dict[str, Any]:
    log = draw(st.booleans())
    if log:
        low = draw(st.floats(1e-6, 1e3))
        high = low * draw(st.floats(1.5, 1e4))
        return {"type": "float", "low": low, "high": high, "log": True}
    low = draw(st.floats(-1e3, 1e3))
    high = low + draw(st.floats(1e-3, 1e3))
    spec: dict[str, Any] = {"type": "float", "low": low, "high": high}
    if draw(st.booleans()):
        spec["step"] = (high - low) / draw(st.integers(1, 20))
    return spec


@st.composite
def int_spec(draw: st.DrawFn) -> dict[str, Any]:
    log = draw(st.booleans())
    low = draw(st.integers(1 if log else -100, 100))
    high = low + draw(st.integers(1, 1000))
    spec: dict[str, Any] = {"type": "int", "low": low, "high": high, "log": log}
    if not log and draw(st.booleans()):
        spec["step"] = draw(st.integers(1, high - low))
    return spec


categorical_spec = st.lists(
    st.one_of(st.text(min_size=1, max_size=5), st.integers(-5, 5), st.booleans()),
    min_size=1,
    max_size=5,
    unique_by=lambda v: (type(v), v),
).map(lambda choices: {"type": "categorical", "choices": choices})

param_spec = st.one_of(float_spec(), int_spec(), categorical_spec)


@st.composite
def spaces(draw: st.DrawFn, max_params: int = 5) -> Space:
    """A valid space; some parameters depend on an earlier categorical parameter."""
    specs: dict[str, Any] = {}
    for i in range(draw(st.integers(1, max_params))):
        spec = dict(draw(param_spec))
        parents = [n for n, s in specs.items() if s["type"] == "categorical"]
        if parents and draw(st.booleans()):
            parent = draw(st.sampled_from(parents))
            values = draw(
                st.lists(st.sampled_from(specs[parent]["choices"]), min_size=1, max_size=2)
            )
            spec["condition"] = {"parent": parent, "values": values}
        specs[f"p{i}"] = spec
    return parse_space(specs)
