"""Input the server refuses to take is the client's mistake, never a 5xx.

A body larger than Django parses (``DATA_UPLOAD_MAX_MEMORY_SIZE``) is a 413 that names the
limit — JSON under ``/api/``, as the API documents — instead of Django's bare 400.


An id beyond 64 bits (``?group=99999999999999999999999``, a path ``/groups/1e30…/``, a
ticked box with a forged value) makes SQLite raise ``OverflowError`` and PostgreSQL a
``DataError`` ("out of range") wherever the value reaches a query: in any view, form or
API filter. Rather than guard every lookup, this middleware turns exactly those errors
into a 400 that says what was wrong (JSON under ``/api/``), so no input reaches a server
error page — which, in demo mode, would also echo the posted form.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _


def is_out_of_range(exc: BaseException) -> bool:
    if isinstance(exc, OverflowError):
        return True
    return isinstance(exc, DataError) and "out of range" in str(exc).lower()


class InputErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest,
                          exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            limit = int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) // (1024 * 1024)
            return _answer(request, 413, _(
                "The request is too large: send at most %(mb)s MB per request.")
                % {"mb": limit})
        if not is_out_of_range(exception):
            return None
        return _answer(request, 400, _(
            "A number in the request is too large to be an id here. Check the link or the "
            "values you sent."))


def _answer(request: HttpRequest, status: int, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
