"""``makemessages`` that also extracts the stored texts of mailworx_crm/texts.py.

Django's command has no option for extra xgettext keywords; its documented way to change
xgettext's options is a subclass with ``xgettext_options``.
"""

from __future__ import annotations

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options,
                        "--keyword=stored_text:1", "--keyword=stored_plural:1,2",
                        "--keyword=deferred_ngettext:1,2"]
