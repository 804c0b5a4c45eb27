"""Pages of the audit app (namespace "audit")."""

from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path(
        "patients/<int:pk>/access-log/",
        views.patient_access_log_view,
        name="patient-access-log",
    ),
]
