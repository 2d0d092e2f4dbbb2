from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from businessunits import owners
from businessunits.models import BusinessUnit
from tenants.models import Tenant


class BusinessUnitForm(forms.ModelForm):
    """Name, reaction owner and default flag.

    The reaction owner is three plain fields (``owner_type``, ``owner_id``, ``owner_name``)
    inside a fieldset marked ``data-owner-picker``: the CRM user/team picker fills exactly
    these fields from the cached CRM users and teams (``businessunits.owners``). While that
    cache holds anyone, the owner must be one of them (type and name are taken from it);
    while it is empty, the id typed by hand is accepted.
    """

    class Meta:
        model = BusinessUnit
        fields = ["name", "owner_type", "owner_id", "owner_name", "is_default", "fixed_language"]
        help_texts = {
            "owner_name": _("How the user or team is called in the CRM (shown here only)."),
        }

    def __init__(self, *args: Any, tenant: Tenant | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        if self.instance.pk and self.instance.is_default:
            self.fields["is_default"].disabled = True
            self.fields["is_default"].help_text = _(
                "This is the default unit. To change that, make another unit the default.")

    @property
    def owner_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("owner_type", "owner_id", "owner_name")]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        owner_id = cleaned.get("owner_id")
        if self.tenant is None or owner_id is None or owners.cache_is_empty(self.tenant):
            return cleaned
        principal = owners.find_active(self.tenant, owner_id)
        if principal is None:
            self.add_error("owner_id", _(
                "This id is not among the CRM's active users and teams. Pick the owner "
                "from the list, or refresh the users and teams if it is new."))
        else:
            cleaned["owner_type"] = principal.principal_type
            cleaned["owner_name"] = principal.name
        return cleaned

    def validate_unique(self) -> None:
        # Name uniqueness per tenant and the one-default rule are the service's job.
        pass
