from django.apps import AppConfig


class BusinessunitsConfig(AppConfig):
    name = "businessunits"
