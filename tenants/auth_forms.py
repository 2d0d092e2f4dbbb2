"""The log-in form: the CRM side's integration users call the API only (C8)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from tenants.models import Membership, Role


class LoginForm(AuthenticationForm):
    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
        if roles == {Role.INTEGRATION}:
            raise ValidationError(
                _("This account belongs to the CRM side of the integration and can only call "
                  "the API; it cannot log in here."), code="integration_user")
