"""The site's own 404 page for every page a user may not see, in every setting.

A sweep of another user is answered exactly as a missing one (``visible_sweeps`` leaves it
out, the view raises ``Http404``). With ``DEBUG`` on (the local default) Django would answer
that with its technical 404 page, which lists the URL patterns and says "Django" - a page
a user should never meet. Under ``/api/`` the API already answers JSON (see
:mod:`sweeps.api.middleware`), so those answers pass through untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase, HttpResponseNotFound
from django.template.loader import render_to_string

API_PREFIX = "/api/"
TEMPLATE = "404.html"


class PlainNotFoundMiddleware:
    """Turns any 404 answer outside ``/api/`` into ``templates/404.html``.

    It reads the answer, not the exception: a path no route matches raises ``Resolver404``
    before any view (no ``process_exception`` sees it), and Django has already turned it
    into a response by the time it comes back through the middleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.status_code != 404 or request.path_info.startswith(API_PREFIX):
            return response
        return not_found_page(request)


def not_found_page(request: HttpRequest) -> HttpResponseBase:
    """The plain 404 page: the site's look, no debug detail."""
    return HttpResponseNotFound(render_to_string(TEMPLATE, {"path": request.path}, request))
