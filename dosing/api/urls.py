from django.urls import path

from dosing.api import views as v

app_name = "dosing-api"

urlpatterns = [
    path("projection/", v.ProjectionView.as_view(), name="projection"),
    path(
        "concentration-change/",
        v.ConcentrationChangeView.as_view(),
        name="concentration-change",
    ),
    path("dose-change/", v.DoseChangeView.as_view(), name="dose-change"),
    path("fixed-rate-fill/", v.FixedRateFillView.as_view(), name="fixed-rate-fill"),
    path("refill-reconciliation/", v.ReconciliationView.as_view(), name="refill-reconciliation"),
    path("starting-dose/", v.StartingDoseView.as_view(), name="starting-dose"),
]
