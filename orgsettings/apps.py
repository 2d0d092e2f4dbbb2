from django.apps import AppConfig


class OrgsettingsConfig(AppConfig):
    name = "orgsettings"
