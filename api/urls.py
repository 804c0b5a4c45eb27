"""``/api/v1/``: the resources (the dosing calculators live under ``/api/v1/dosing/``)."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from api import views

router = DefaultRouter()
router.include_root_view = False
router.register("patients", views.PatientViewSet, basename="api-patient")
router.register("care-team", views.CareTeamViewSet, basename="api-care-team")
router.register("pumps", views.PumpViewSet, basename="api-pump")
router.register("programs", views.ProgramViewSet, basename="api-program")
router.register("refill-visits", views.VisitViewSet, basename="api-visit")
router.register("alerts", views.AlertViewSet, basename="api-alert")

urlpatterns = [
    path("ping/", views.PingView.as_view(), name="api-ping"),
    *router.urls,
]
