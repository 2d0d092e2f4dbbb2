"""The log-in and password forms.

- The CRM side's integration users call the API only (C8): they never log in here.
- Every form that sets a password ends all of the user's API tokens: a password change,
  a password reset (and an invitation's first password), and an administrator setting one
  in the Django admin.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import forms as auth_forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from tenants.accounts import is_integration_user, revoke_all_tokens


class LoginForm(auth_forms.AuthenticationForm):
    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if is_integration_user(user):
            raise ValidationError(
                _("This account belongs to the CRM side of the integration and can only call "
                  "the API; it cannot log in here."), code="integration_user")


class _EndsApiTokens:
    """Mixed into Django's password forms: once the new password is saved, the user's API
    tokens are revoked."""

    def set_password_and_save(self, user: Any, *args: Any, commit: bool = True,
                              **kwargs: Any) -> Any:
        user = super().set_password_and_save(  # type: ignore[misc]
            user, *args, commit=commit, **kwargs)
        if commit:
            revoke_all_tokens(user)
        return user


class PasswordChangeForm(_EndsApiTokens, auth_forms.PasswordChangeForm):
    pass


class SetPasswordForm(_EndsApiTokens, auth_forms.SetPasswordForm):
    pass


class AdminPasswordChangeForm(_EndsApiTokens, auth_forms.AdminPasswordChangeForm):
    pass
