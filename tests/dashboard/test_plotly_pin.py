"""The live chart reads Plotly's internals: it runs only on the plotly.js it was written for.

``static/js/chart.js`` extends Plotly's drawn SVG lines and reads its private state
(``_fullLayout``, ``calcdata``, ...), which any plotly.js release may change without notice.
Its ``PLOTLY_VERSION`` names the plotly.js it was checked against; the pages load the
plotly.js that the installed ``plotly`` package ships. When an upgrade moves that, this
fails and says what to check before moving the pin.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboard.views import PLOTLY_JS

CHART_JS = Path(__file__).resolve().parents[2] / "static" / "js" / "chart.js"


def shipped_plotly_js_version() -> str:
    """The version in the banner of the plotly.js the pages load ("plotly.js v4.1.1")."""
    with PLOTLY_JS.open(encoding="utf-8") as f:
        head = f.read(500)
    found = re.search(r"plotly\.js v(\d+\.\d+\.\d+)", head)
    assert found, f"no plotly.js version in the banner of {PLOTLY_JS}: {head[:200]!r}"
    return found.group(1)


def chart_pin() -> tuple[str, str]:
    """chart.js's PLOTLY_VERSION and its comment listing the internals it reads."""
    source = CHART_JS.read_text(encoding="utf-8")
    pin = re.search(r'const PLOTLY_VERSION = "([^"]+)";', source)
    assert pin, "static/js/chart.js no longer declares const PLOTLY_VERSION"
    internals = re.search(r"it reads Plotly's internals:\n(.*?)\n\s*tests/dashboard", source, re.S)
    assert internals, "static/js/chart.js no longer lists the Plotly internals it reads"
    return pin.group(1), internals.group(1)


def test_the_shipped_plotly_js_is_the_one_the_live_chart_was_written_against() -> None:
    pinned, internals = chart_pin()
    shipped = shipped_plotly_js_version()
    assert shipped == pinned, (
        f"The pages now load plotly.js {shipped}, but static/js/chart.js was written against "
        f"plotly.js {pinned} and reads these of its internals:\n{internals}\n"
        "Check each of them against the new plotly.js (the browser tests in "
        "tests/dashboard/test_browser.py exercise them: run them), then set PLOTLY_VERSION "
        f'in static/js/chart.js to "{shipped}".'
    )


def test_the_pin_catches_a_moved_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check reads the banner: a plotly.js of another version is told apart."""
    fake = tmp_path / "plotly.min.js"
    fake.write_text("/**\n* plotly.js v9.9.9\n* Copyright\n*/\n", encoding="utf-8")
    monkeypatch.setattr("tests.dashboard.test_plotly_pin.PLOTLY_JS", fake)
    assert shipped_plotly_js_version() == "9.9.9" != chart_pin()[0]
