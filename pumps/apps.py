from django.apps import AppConfig


class PumpsConfig(AppConfig):
    name = "pumps"
    verbose_name = "Patients and pumps"
