"""Staff pages of the pumps app: the patient page and the screening-trial calculator."""

from django.urls import path

from pumps import program_views, views

app_name = "pumps"

urlpatterns = [
    path("patients/<int:pk>/", views.patient_detail, name="patient"),
    path("screening/", views.screening, name="screening"),
    path("pumps/<int:pk>/program/", program_views.program_change, name="program-change"),
]
