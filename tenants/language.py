"""Each person's UI language, remembered so that mail sent without a request (alerts) is
written in the language that person reads the pages in (C16).

The pages pick the language per request (LocaleMiddleware: the language cookie, else the
browser's Accept-Language). It is noted when a person logs in and when they switch the
language (``tenants.auth_views``) — not on every request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.utils.translation import get_supported_language_variant

from tenants.models import UserLanguage


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
