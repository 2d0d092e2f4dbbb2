"""Editing one subscriber's field values: a form built from the tenant's subscriber fields.

Each value is checked by ``audience.values.clean_value`` (the rule imports, the API and the
sync use too), so the form accepts exactly what the rest of the product stores. A changed
address is also checked against the suppression list (``refused_address``, N6); writing
goes through ``update_subscriber``, which lets the permission follow the address (N7).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from audience.address_change import refused_address
from audience.models import FieldType, Subscriber, SubscriberField
from audience.values import SubscriberError, clean_value

_INPUT_TYPES = {
    FieldType.NUMBER: "text",
    FieldType.DATE: "date",
    FieldType.DATETIME: "datetime-local",
}


def _form_field(field: SubscriberField) -> forms.Field:
    ftype = field.type_enum
    required = field.key == SubscriberField.EMAIL
    label = field.label
    if ftype is FieldType.SINGLE_SELECT:
        choices = [("", "—"), *((o.value, o.label) for o in field.options.all())]
        return forms.ChoiceField(label=label, choices=choices, required=required)
    if ftype is FieldType.MULTI_SELECT:
        return forms.MultipleChoiceField(
            label=label,
            required=False,
            widget=forms.CheckboxSelectMultiple,
            choices=[(o.value, o.label) for o in field.options.all()],
        )
    if ftype is FieldType.BOOLEAN:
        return forms.ChoiceField(
            label=label, required=False, choices=[("", "—"), ("true", _("Yes")), ("false", _("No"))]
        )
    if field.key == SubscriberField.EMAIL:
        return forms.CharField(label=label, required=True, max_length=254, widget=forms.EmailInput)
    widget = forms.TextInput(attrs={"type": _INPUT_TYPES.get(ftype, "text")})
    return forms.CharField(label=label, required=required, widget=widget, strip=True)


def _initial(field: SubscriberField, value: str) -> Any:
    if field.type_enum is FieldType.MULTI_SELECT:
        return [v for v in value.split(",") if v]
    if field.type_enum is FieldType.DATETIME and value:
        return value[:16]  # what <input type=datetime-local> shows
    return value


class SubscriberForm(forms.Form):
    """One form field per subscriber field, named after its key."""

    def __init__(
        self,
        subscriber: Subscriber,
        fields: Mapping[str, SubscriberField],
        values: Mapping[str, str],
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.subscriber = subscriber
        self.subscriber_fields = sorted(fields.values(), key=lambda f: (f.position, f.pk))
        for sf in self.subscriber_fields:
            self.fields[sf.key] = _form_field(sf)
            self.initial[sf.key] = _initial(sf, values.get(sf.key, ""))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for sf in self.subscriber_fields:
            if sf.key not in cleaned:
                continue  # the field's own check failed already
            raw = cleaned[sf.key]
            if isinstance(raw, list):
                raw = ",".join(raw)
            try:
                cleaned[sf.key] = clean_value(sf, raw)
            except SubscriberError as exc:
                self.add_error(sf.key, str(exc))
        email = cleaned.get(SubscriberField.EMAIL)
        if email:
            refusal = refused_address(self.subscriber, email)
            if refusal:
                self.add_error(SubscriberField.EMAIL, refusal)
        return cleaned

    def values(self) -> dict[str, str]:
        """The canonical value of every field (``update_subscriber`` writes the changed)."""
        return {sf.key: self.cleaned_data[sf.key] for sf in self.subscriber_fields}
