"""ASGI entry point: HTTP goes to Django, WebSockets to the live dashboard consumers.

A WebSocket handshake is accepted only from a page of this site: its Origin must name the
same scheme, host and port as the request itself (the Host header, HTTPS when the socket is
``wss`` or the proxy says so through ``SECURE_PROXY_SSL_HEADER``), or be one of
``CSRF_TRUSTED_ORIGINS`` — the rule Django's CSRF check applies to forms. Channels'
``AllowedHostsOriginValidator`` compared host names only, so a page served on another port
of the same host (any local web app) could open a socket with the user's session.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs apps loaded)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import WebsocketDenier  # noqa: E402
from django.conf import settings  # noqa: E402
from django.http.request import is_same_domain, split_domain_port, validate_host  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from dashboard.routing import websocket_urlpatterns  # noqa: E402

DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int


def parse_origin(text: str) -> Origin | None:
    """``scheme://host[:port]`` as an :class:`Origin`; None for anything else ("null", a
    path, a user name, a scheme other than http(s), a bad port)."""
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or parts.path not in ("", "/") or parts.query:
        return None
    if parts.fragment or parts.username is not None or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return Origin(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme])


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    """The value of a header sent exactly once (None if absent or repeated)."""
    values = [v for k, v in scope.get("headers", []) if k.lower() == name]
    return values[0].decode("latin-1") if len(values) == 1 else None


def _is_secure(scope: dict[str, Any]) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        meta_name, secure_value = proxy
        name = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        value = _header(scope, name)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return False


def request_origin(scope: dict[str, Any]) -> Origin | None:
    """The origin the socket was requested at, from its Host header; None unless that host
    is one of ``ALLOWED_HOSTS``."""
    host = _header(scope, b"host")
    if host is None:
        return None
    domain, port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:  # what Django allows in the same case
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    if not domain or not validate_host(domain, allowed):
        return None
    scheme = "https" if _is_secure(scope) else "http"
    return Origin(scheme, domain.strip("[]"), int(port) if port else DEFAULT_PORTS[scheme])


def _trusted(origin: Origin, pattern: str) -> bool:
    """``origin`` matches one ``CSRF_TRUSTED_ORIGINS`` entry (``https://*.example.com``
    stands for every subdomain, as in Django's CSRF check)."""
    wildcard = "://*." in pattern
    trusted = parse_origin(pattern.replace("://*.", "://", 1) if wildcard else pattern)
    if trusted is None or (trusted.scheme, trusted.port) != (origin.scheme, origin.port):
        return False
    if wildcard:
        return is_same_domain(origin.host, "." + trusted.host)
    return origin.host == trusted.host


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether a WebSocket handshake comes from a page this site trusts."""
    raw = _header(scope, b"origin")
    origin = parse_origin(raw) if raw is not None else None
    own = request_origin(scope)
    if origin is None or own is None:
        return False
    return origin == own or any(_trusted(origin, p) for p in settings.CSRF_TRUSTED_ORIGINS)


class SameOriginValidator:
    """Refuses a WebSocket handshake whose Origin fails :func:`origin_allowed`."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


# Load the URL conf (and the REST API it imports) now, not on the first request: ~0.3 s.
get_resolver().url_patterns  # noqa: B018

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
