from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from businessunits.models import BusinessUnit


class BusinessUnitForm(forms.ModelForm):
    """Name, reaction owner and default flag.

    The reaction owner is three plain fields (``owner_type``, ``owner_id``, ``owner_name``)
    inside a fieldset marked ``data-owner-picker``: the CRM user/team picker that arrives
    with the CRM client fills exactly these fields, so the form and service stay as they are.
    """

    class Meta:
        model = BusinessUnit
        fields = ["name", "owner_type", "owner_id", "owner_name", "is_default"]
        help_texts = {
            "owner_name": _("How the user or team is called in the CRM (shown here only)."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.is_default:
            self.fields["is_default"].disabled = True
            self.fields["is_default"].help_text = _(
                "This is the default unit. To change that, make another unit the default.")

    def validate_unique(self) -> None:
        # Name uniqueness per tenant and the one-default rule are the service's job.
        pass
