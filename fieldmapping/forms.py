"""The field-mapping form: attribute, subscriber field, related attribute for lookups, and
one select per CRM option value when a choice is mapped to a single-select field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _lazy

from audience.models import SubscriberField, SubscriberFieldOption
from businessunits.models import BusinessUnit
from fieldmapping import services
from fieldmapping.compat import is_supported, offered_for
from fieldmapping.models import CrmAttribute, Direction, FieldMapping


class AttributeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        suffix = "" if obj.is_valid_for_update else f", {_('read-only')}"
        if not is_supported(obj):
            unsupported = _("not supported")  # outside the f-string: xgettext finds it
            suffix += f", {unsupported}"
        return f"{obj.display_name} ({obj.entity}.{obj.logical_name}, {obj.type_label}{suffix})"


class MappingForm(forms.Form):
    crm_attribute = AttributeChoiceField(
        queryset=CrmAttribute.objects.none(), label=_lazy("CRM attribute"),
        help_text=_lazy("From the attribute catalogue pulled from the CRM."))
    related_attribute = AttributeChoiceField(
        queryset=CrmAttribute.objects.none(), required=False,
        label=_lazy("Attribute of the related record"),
        help_text=_lazy("Only for lookups: which attribute of the linked record to copy. "
                        "Such mappings flow CRM → mailworx only."))
    subscriber_field = forms.ModelChoiceField(
        queryset=SubscriberField.objects.none(), label=_lazy("Subscriber field"))
    attribute_search = forms.CharField(
        required=False, max_length=100, label=gettext_lazy("Search CRM attributes"),
        help_text=gettext_lazy("Part of the attribute's name or logical name. The list "
                               "shows the attributes that fit the chosen subscriber field."))
    direction = forms.ChoiceField(
        choices=Direction.choices, initial=Direction.BOTH, label=_lazy("Direction"),
        help_text=_lazy("Lookups and read-only CRM attributes are always CRM → mailworx."))

    def __init__(self, unit: BusinessUnit, entity_type: str, *args: Any,
                 mapping: FieldMapping | None = None, **kwargs: Any) -> None:
        if mapping is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "crm_attribute": mapping.crm_attribute_id,
                "related_attribute": mapping.related_attribute_id,
                "subscriber_field": mapping.subscriber_field_id,
                "direction": mapping.direction,
                **{f"opt_{om.crm_value}": om.subscriber_option_id
                   for om in mapping.option_mappings.all()},
            }
        super().__init__(*args, **kwargs)
        self.unit, self.entity_type, self.mapping = unit, entity_type, mapping
        tenant = unit.tenant
        self.fields["crm_attribute"].queryset = services.entity_attributes(  # type: ignore[attr-defined]
            tenant, entity_type)
        self.fields["subscriber_field"].queryset = SubscriberField.objects.filter(  # type: ignore[attr-defined]
            tenant=tenant)
        self.lookup = self._selected("crm_attribute", self.fields["crm_attribute"])
        self.target = self._selected("subscriber_field", self.fields["subscriber_field"])
        self.fields["related_attribute"].queryset = services.related_candidates(  # type: ignore[attr-defined]
            self.lookup)
        related = self._selected("related_attribute", self.fields["related_attribute"])
        self.source = (services.source_of(self.lookup, related) if self.lookup else None)
        self.option_fields: list[tuple[str, str]] = []  # (field name, CRM label)
        self.options_pending = False
        if self.source is not None and self.target is not None and \
                services.needs_option_mapping(self.source, self.target):
            self._add_option_fields(self.source, self.target)

    @property
    def attribute_choices(self) -> list[tuple[str, str, bool]]:
        """``(value, label, disabled)`` for the attribute list: the attributes that fit the
        chosen subscriber field (all mappable ones before a field is chosen) and match the
        search; unsupported ones are listed, marked and not selectable; the chosen one
        is always there."""
        field = self.fields["crm_attribute"]
        assert isinstance(field, AttributeChoiceField)
        field_type = self.target.field_type if self.target is not None else None
        search = str(self._raw("attribute_search") or "").strip()[:100]
        attributes = services.entity_attributes(self.unit.tenant, self.entity_type)
        if search:
            attributes = attributes.filter(
                Q(display_name_en__icontains=search) | Q(display_name_de__icontains=search)
                | Q(logical_name__icontains=search))
        chosen_pk = self.lookup.pk if self.lookup is not None else None
        listed = [a for a in attributes if a.pk == chosen_pk or not is_supported(a)
                  or offered_for(a, field_type)]
        if self.lookup is not None and all(a.pk != chosen_pk for a in listed):
            listed.insert(0, self.lookup)
        return [("", "---------", False)] + [
            (str(a.pk), field.label_from_instance(a), not is_supported(a) and a.pk != chosen_pk)
            for a in listed]

    def _raw(self, name: str) -> Any:
        return self.data.get(name) if self.is_bound else self.initial.get(name)

    def _selected(self, name: str, field: forms.Field) -> Any:
        raw = self._raw(name)
        if raw in (None, ""):
            return None
        try:
            return field.clean(raw.pk if hasattr(raw, "pk") else raw)
        except ValidationError:
            return None

    def _add_option_fields(self, source: CrmAttribute, target: SubscriberField) -> None:
        prefill = services.prefill_options(source, target)
        submitted = self.is_bound and any(k.startswith("opt_") for k in self.data)
        if self.is_bound and not submitted:
            # First submission without the table: show it pre-filled for review.
            self.options_pending = True
            self.data = self.data.copy()  # type: ignore[attr-defined]
        for crm_option in source.options.all():
            name = f"opt_{crm_option.value}"
            self.fields[name] = forms.ModelChoiceField(
                queryset=SubscriberFieldOption.objects.filter(field=target), required=False,
                label=f"{crm_option.value}: {crm_option.label}",
                empty_label=_("(not mapped)"))
            guess = prefill.get(crm_option.value)
            if guess is not None:
                self.initial.setdefault(name, guess.pk)
                if self.options_pending:
                    self.data[name] = str(guess.pk)  # type: ignore[index]
            self.option_fields.append((name, crm_option.label))

    @property
    def option_bound_fields(self) -> list[forms.BoundField]:
        return [self[name] for name, _label in self.option_fields]

    def to_input(self) -> services.MappingInput:
        data = self.cleaned_data
        return services.MappingInput(
            crm_attribute=data["crm_attribute"], subscriber_field=data["subscriber_field"],
            related_attribute=data.get("related_attribute"), direction=data["direction"],
            option_map={int(name[4:]): data.get(name) for name, _l in self.option_fields},
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors or not cleaned.get("crm_attribute") or not cleaned.get(
                "subscriber_field"):
            return cleaned
        services.validate(self.unit, self.entity_type, self.to_input(), self.mapping)
        if self.options_pending:
            raise ValidationError(_("Check the option mapping below (pre-filled by matching "
                                    "labels) and save again."))
        return cleaned
