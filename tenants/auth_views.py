"""Django's account views with this project's rules: password changes and resets end the
user's API tokens (the forms in :mod:`tenants.auth_forms`), and password-reset requests
are rate-limited per address and per client IP.

django-axes throttles failed log-ins only; a reset request is no log-in, so it is counted
here (:mod:`mailworx_crm.ratelimit`), with the client IP as axes determines it.
"""

from __future__ import annotations

from typing import Any

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.utils.translation import check_for_language, get_language
from django.views import i18n as i18n_views

from mailworx_crm.email_address import normalise_email
from mailworx_crm.ratelimit import allow
from tenants.auth_forms import LoginForm, PasswordChangeForm, SetPasswordForm
from tenants.language import remember_language


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        # The language the person reads the pages in: their alert emails use it.
        remember_language(self.request.user, get_language())
        return response


def set_language(request: HttpRequest) -> HttpResponse:
    """Django's language switch, noting the choice for the signed-in person's emails."""
    response = i18n_views.set_language(request)
    language = request.POST.get("language", "")
    if request.method == "POST" and request.user.is_authenticated and language \
            and check_for_language(language):
        remember_language(request.user, language)
    return response


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = PasswordChangeForm


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = SetPasswordForm


class PasswordResetView(auth_views.PasswordResetView):
    """The same answer for every address, known or not; past the limit a 429 with the form
    and a message, and no email."""

    def form_valid(self, form: Any) -> HttpResponse:
        window = settings.PASSWORD_RESET_LIMIT_WINDOW_MINUTES * 60
        address = normalise_email(form.cleaned_data["email"])
        ip = get_client_ip_address(self.request) or "unknown"
        # Both counters count every request, so neither says anything about the address.
        address_ok = allow("password-reset-address", address,
                           settings.PASSWORD_RESET_LIMIT_PER_ADDRESS, window)
        ip_ok = allow("password-reset-ip", ip, settings.PASSWORD_RESET_LIMIT_PER_IP, window)
        if not (address_ok and ip_ok):
            return self.render_to_response(self.get_context_data(form=form, limited=True),
                                           status=429)
        return super().form_valid(form)
