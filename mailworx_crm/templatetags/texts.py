"""``{{ value|rendered }}``: a stored text (mailworx_crm/texts.py) in the reader's language."""

from __future__ import annotations

from typing import Any

from django import template

from mailworx_crm.texts import render

register = template.Library()


@register.filter
def rendered(value: Any) -> str:
    return render(value)
