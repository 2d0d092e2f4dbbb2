from django.apps import AppConfig


class FieldmappingConfig(AppConfig):
    name = "fieldmapping"
