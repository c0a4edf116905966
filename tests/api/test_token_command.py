"""``manage.py token <username>`` prints the user's token, creating it once."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def token_of(*args: str) -> str:
    out = io.StringIO()
    call_command("token", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_prints_a_working_token_and_the_same_one_again(owner: Any) -> None:
    key = token_of("alice")
    assert key == Token.objects.get(user=owner).key and len(key) == 40
    assert token_of("alice") == key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(reverse("api-sweeps")).status_code == 200


def test_rotate_replaces_the_token(owner: Any) -> None:
    old = token_of("alice")
    new = token_of("alice", "--rotate")
    assert new != old
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert client.get(reverse("api-sweeps")).status_code == 401


def test_unknown_user_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        token_of("nobody")
    assert Token.objects.count() == 0


def test_inactive_user_gets_no_token(owner: Any) -> None:
    owner.is_active = False
    owner.save()
    with pytest.raises(CommandError, match="inactive"):
        token_of("alice")
