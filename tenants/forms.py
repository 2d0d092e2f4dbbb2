from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tenants.models import Role


class AddMemberForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"),
        help_text=_("We email an invitation; the address becomes a member once it is "
                    "accepted. An address without an account is first asked to set a "
                    "password."),
    )
    role = forms.ChoiceField(
        label=_("Role"),
        choices=Role.ui_choices,
        initial=Role.USER,
        help_text=_("Administrators change the configuration; users can view it and start syncs."),
    )


class ChangeRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.ui_choices)
