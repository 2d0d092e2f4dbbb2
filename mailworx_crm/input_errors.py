"""Input the database cannot even compare is the client's mistake, never a 5xx.

An id beyond 64 bits (``?group=99999999999999999999999``, a path ``/groups/1e30…/``, a
ticked box with a forged value) makes SQLite raise ``OverflowError`` and PostgreSQL a
``DataError`` ("out of range") wherever the value reaches a query: in any view, form or
API filter. Rather than guard every lookup, this middleware turns exactly those errors
into a 400 that says what was wrong (JSON under ``/api/``), so no input reaches a server
error page — which, in demo mode, would also echo the posted form.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import DataError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.translation import gettext as _


def is_out_of_range(exc: BaseException) -> bool:
    if isinstance(exc, OverflowError):
        return True
    return isinstance(exc, DataError) and "out of range" in str(exc).lower()


class OutOfRangeInputMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest,
                          exception: Exception) -> HttpResponse | None:
        if not is_out_of_range(exception):
            return None
        message = _("A number in the request is too large to be an id here. Check the link "
                    "or the values you sent.")
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=400)
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
