"""What the debug page (``DEBUG``) and error e-mails may show: Django's filter, plus Rungs'
connection URLs.

Django hides settings whose *name* looks secret (``SECRET_KEY``, ``PASSWORD``...), but Rungs
takes its secrets as URLs: ``DATABASE_URL`` and ``REDIS_URL`` carry passwords, and
``REDIS_URL`` is copied into ``CELERY_BROKER_URL`` and ``CHANNEL_LAYERS``. So those names
are hidden whole, and a password inside any URL shown (a setting, a request header, an
environment variable in ``META``, a local variable of a frame) is replaced by stars.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

# scheme://user:password@host -> scheme://user:********@host (the user helps debugging).
URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)[^@\s]*(?=@)")


def mask_url_passwords(text: str, substitute: str = "********") -> str:
    """``text`` with the password of every ``scheme://user:password@host`` URL replaced."""
    return URL_PASSWORD.sub(lambda m: m.group("head") + substitute, text)


class SecretsFilter(SafeExceptionReporterFilter):
    """Django's filter, which also hides connection URLs and passwords inside URLs."""

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL|REDIS_URL|BROKER_URL",
        flags=re.IGNORECASE,
    )

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        # Django recurses through this method, so nested values (CHANNEL_LAYERS' hosts) pass.
        cleansed = super().cleanse_setting(key, value)
        return mask_url_passwords(cleansed) if isinstance(cleansed, str) else cleansed

    def get_traceback_frame_variables(
        self, request: HttpRequest | None, tb_frame: Any
    ) -> list[tuple[str, Any]]:
        # Django leaves frame variables alone under DEBUG; a URL with its password in a
        # local variable (settings being parsed, a broker connection) would show.
        return [
            (name, mask_url_passwords(value) if isinstance(value, str) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
