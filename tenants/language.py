"""Each person's UI language, remembered so that mail sent without a request (alerts) is
written in the language that person reads the pages in (C16).

The pages pick the language per request (LocaleMiddleware: the language cookie, else the
browser's Accept-Language); :class:`RememberLanguageMiddleware` stores what it picked for a
signed-in person — once per session and language, not on every request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import get_language, get_supported_language_variant

from tenants.models import UserLanguage

_SESSION_KEY = "remembered_language"


def remember_language(user: Any, language: str) -> None:
    try:
        code = get_supported_language_variant(language)
    except LookupError:
        return
    UserLanguage.objects.update_or_create(user_id=user.pk, defaults={"language": code})


def languages_of(user_ids: Iterable[int]) -> dict[int, str]:
    """``user id → language``; a person who never used the pages gets the site's default."""
    ids = list(user_ids)
    known = dict(UserLanguage.objects.filter(user_id__in=ids).values_list("user_id", "language"))
    return {pk: known.get(pk, settings.LANGUAGE_CODE) for pk in ids}


class RememberLanguageMiddleware:
    """After LocaleMiddleware and AuthenticationMiddleware: note the signed-in person's
    language when it differs from what this session last noted."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        # After the view: a language switch (set_language) shows in its redirect's target.
        language = getattr(request, "LANGUAGE_CODE", None) or get_language()
        if (
            user is not None
            and user.is_authenticated
            and language
            and hasattr(request, "session")
            and request.session.get(_SESSION_KEY) != language
        ):
            remember_language(user, language)
            request.session[_SESSION_KEY] = language
        return response
