"""The socket's Origin check compares scheme, host and port with the request's own origin
(or ``CSRF_TRUSTED_ORIGINS``); a page on another port of the same host is refused."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.asgi import origin_allowed, parse_origin
from tests.dashboard.conftest import make_sweep
from tests.dashboard.test_consumer import _full_app_connect, _session_cookie


def _scope(
    origin: str | None, host: str | None = "localhost:8000", scheme: str = "ws", **headers: str
) -> dict[str, Any]:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    if origin is not None:
        raw.append((b"origin", origin.encode()))
    if host is not None:
        raw.append((b"host", host.encode()))
    return {"type": "websocket", "scheme": scheme, "headers": raw}


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://localhost:8000", "localhost:8000", True),
        ("http://LOCALHOST:8000", "localhost:8000", True),
        ("http://localhost:3000", "localhost:8000", False),  # another app on the same host
        ("http://localhost", "localhost:8000", False),
        ("https://localhost:8000", "localhost:8000", False),  # scheme differs
        ("http://127.0.0.1:8000", "localhost:8000", False),
        ("http://localhost", "localhost", True),
        ("http://localhost:80", "localhost", True),  # the default port, said or not
        ("http://[::1]:8000", "[::1]:8000", True),
        ("http://[::1]:8001", "[::1]:8000", False),
        ("http://evil.example:8000", "evil.example:8000", False),  # not in ALLOWED_HOSTS
        ("null", "localhost:8000", False),
        ("http://localhost:8000/page", "localhost:8000", False),
        ("http://user@localhost:8000", "localhost:8000", False),
        ("ftp://localhost:8000", "localhost:8000", False),
        ("http://localhost:99999", "localhost:8000", False),
        (None, "localhost:8000", False),
        ("http://localhost:8000", None, False),
    ],
)
def test_origin_must_match_scheme_host_and_port(
    settings: Any, origin: str | None, host: str | None, allowed: bool
) -> None:
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
    settings.CSRF_TRUSTED_ORIGINS = []
    assert origin_allowed(_scope(origin, host)) is allowed


def test_wss_and_a_proxys_https_make_the_request_https(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["rungs.example.com"]
    host = "rungs.example.com"
    assert origin_allowed(_scope("https://rungs.example.com", host, scheme="wss"))
    assert not origin_allowed(_scope("http://rungs.example.com", host, scheme="wss"))
    assert origin_allowed(_scope("https://rungs.example.com", host, x_forwarded_proto="https"))
    assert not origin_allowed(_scope("https://rungs.example.com", host))
    settings.SECURE_PROXY_SSL_HEADER = None  # then the header is not believed
    assert not origin_allowed(_scope("https://rungs.example.com", host, x_forwarded_proto="https"))


def test_repeated_headers_are_refused(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["localhost"]
    scope = _scope("http://localhost:8000", "localhost:8000")
    scope["headers"].append((b"origin", b"http://localhost:8000"))
    assert not origin_allowed(scope)


def test_trusted_origins_name_scheme_host_and_port(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://rungs.example.com", "https://*.lab.example"]
    host = "127.0.0.1:8000"  # behind a proxy that rewrites Host
    assert origin_allowed(_scope("https://rungs.example.com", host))
    assert origin_allowed(_scope("https://rungs.example.com:443", host))
    assert not origin_allowed(_scope("https://rungs.example.com:8443", host))
    assert not origin_allowed(_scope("http://rungs.example.com", host))
    assert origin_allowed(_scope("https://gpu1.lab.example", host))
    assert not origin_allowed(_scope("https://lab.example.evil", host))
    assert not origin_allowed(_scope("https://rungs.example.com", "evil.example"))


def test_parse_origin() -> None:
    assert parse_origin("https://Example.com") == ("https", "example.com", 443)
    assert parse_origin("http://[::1]:8000") == ("http", "::1", 8000)
    assert parse_origin("null") is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("port", "connects"), [(b"8000", True), (b"3000", False)])
async def test_the_full_stack_refuses_another_port(user: Any, port: bytes, connects: bool) -> None:
    sweep = make_sweep(user)
    headers = [
        (b"host", b"localhost:8000"),
        (b"origin", b"http://localhost:" + port),
        (b"cookie", _session_cookie(user)),
    ]
    connected, _ = await _full_app_connect(f"/ws/sweeps/{sweep.pk}/", headers)
    assert connected is connects
