from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from audience.models import SubscriberField, SubscriberFieldOption


class FieldForm(forms.ModelForm):
    """Create (key, labels, type) or edit (labels only) a subscriber field."""

    class Meta:
        model = SubscriberField
        fields = ["key", "label_en", "label_de", "field_type"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # Key and type are fixed once the field exists (subscriber values depend on them).
            del self.fields["key"]
            del self.fields["field_type"]
        else:
            self.fields["field_type"].help_text = _(
                "Cannot be changed later. Single- and multi-select fields get options.")


class OptionForm(forms.ModelForm):
    class Meta:
        model = SubscriberFieldOption
        fields = ["value", "label_en", "label_de"]
        help_texts = {"value": _("Stable value used by imports and the sync; cannot be "
                                 "changed later.")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["value"]

