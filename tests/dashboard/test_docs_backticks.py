"""/api/docs/ shows `backticked` words in descriptions as code, escaped like any text."""

from __future__ import annotations

import re

import pytest

from sweeps.api.docs import inline_code, render_page


def test_backticks_single_and_double_become_code() -> None:
    assert inline_code("from `low` to ``high``") == "from <code>low</code> to <code>high</code>"


def test_text_in_and_around_code_is_escaped() -> None:
    html = inline_code("`a<b` then <script>alert(1)</script> & `x`")
    assert html == (
        "<code>a&lt;b</code> then &lt;script&gt;alert(1)&lt;/script&gt; &amp; <code>x</code>"
    )
    assert inline_code(None) == "" and inline_code("a lone ` stays") == "a lone ` stays"


@pytest.mark.django_db
def test_the_page_shows_no_backtick_and_codes_the_described_names() -> None:
    html = render_page()
    assert "`" not in html
    # A field description (drf-spectacular's, from a docstring with ``double`` ones).
    assert "active only when <code>parent</code> takes one of <code>values</code>" in html
    assert "<script" not in html
    assert not re.search(r"<code>[^<]*`", html)
