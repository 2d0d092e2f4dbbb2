"""Pick the German or English text of a bilingual database value for the active language."""

from __future__ import annotations

from django.utils.translation import get_language


def localized(english: str, german: str) -> str:
    """The German text when the UI speaks German, else the English one (each may be blank)."""
    return german if (get_language() or "en").startswith("de") else english
