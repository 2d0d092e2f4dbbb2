from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmEventsConfig(AppConfig):
    name = "crmevents"
    verbose_name = _("CRM events")
