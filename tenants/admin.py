"""The Django admin: a password set there ends the user's API tokens too; API tokens are
listed (never their secret) and can be deleted."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from tenants.auth_forms import AdminPasswordChangeForm
from tenants.models import ApiToken

User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class AccountAdmin(UserAdmin):
    change_password_form = AdminPasswordChangeForm


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "created", "expiry", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("name", "user__username", "user__email")
    fields = ("name", "user", "created", "expiry", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
