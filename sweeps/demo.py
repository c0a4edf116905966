"""The demo set-up behind ``manage.py up --demo``: a login and a sweep to watch."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.auth import get_user_model

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"


def ensure_demo() -> Iterator[str]:
    """Create the demo login (and later a demo sweep) if missing; yield what was done."""
    User = get_user_model()
    user = User.objects.filter(username=DEMO_USER).first()
    if user is None:
        User.objects.create_superuser(DEMO_USER, "demo@example.com", DEMO_PASSWORD)
        yield f"Created the login {DEMO_USER} / {DEMO_PASSWORD} (change it before sharing this server)."
    else:
        yield f"Log in as {DEMO_USER}."
