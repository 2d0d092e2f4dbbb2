"""Forms of the audience data pages (groups, the group CRM sync setting, CSV upload)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from audience.csv_io import MAX_IMPORT_BYTES
from audience.groups import validate_future_owner
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

    def clean_future_owner(self) -> str:
        return validate_future_owner(self.tenant, self.cleaned_data.get("future_owner") or "")


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
