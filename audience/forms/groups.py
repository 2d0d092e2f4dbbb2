"""Forms of the audience data pages (groups, the group CRM sync setting, CSV upload)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from audience.csv_io import MAX_IMPORT_BYTES
from audience.groups import missing_owner_error, owner_required, validate_future_owner
from audience.models import GroupSyncSetting, SubscriberGroup
from businessunits.models import BusinessUnit
from tenants.models import Tenant


class GroupForm(forms.ModelForm):
    class Meta:
        model = SubscriberGroup
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}


class SyncSettingForm(forms.ModelForm):
    class Meta:
        model = GroupSyncSetting
        fields = ["enabled", "future_owner", "entity_type", "mode", "business_unit"]

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        unit_field = self.fields["business_unit"]
        assert isinstance(unit_field, forms.ModelChoiceField)
        unit_field.queryset = BusinessUnit.objects.filter(tenant=tenant)
        unit_field.empty_label = str(_("The tenant's default unit"))
        if self.instance.pk is None and not self.is_bound:
            # Nothing saved: the group does not sync, whatever the model's default says.
            self.initial["enabled"] = False

    def clean_future_owner(self) -> str:
        return validate_future_owner(self.tenant, self.cleaned_data.get("future_owner") or "")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if ("future_owner" in cleaned and not cleaned["future_owner"]
                and owner_required(cleaned.get("enabled", False), cleaned.get("mode", ""))):
            self.add_error("future_owner", missing_owner_error())
        return cleaned


class CsvUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("First row: column names — field keys such as email, first_name, or "
                    "field labels. Separated by ; or ,. Nothing is stored before you confirm."),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MB."))
        return upload
