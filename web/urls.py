"""The web pages under the "web" namespace. The home page is routed in ``itb.urls`` under the
plain name ``home`` (``LOGIN_REDIRECT_URL`` and the navigation use it)."""

from django.urls import path

from web import views

app_name = "web"

urlpatterns = [
    path("my-patients/", views.caregiver, name="caregiver"),
]
