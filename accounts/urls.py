"""Account security pages, under /accounts/ (beside Django's sign-in and password pages). The
sign-in page itself is routed in ``itb.urls`` under Django's name ``login``."""

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("two-factor/", views.two_factor_verify, name="two_factor_verify"),
    path("two-factor/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("security/", views.security, name="security"),
    path("security/two-factor/off/", views.two_factor_turn_off, name="two_factor_off"),
    path("security/recovery-codes/", views.recovery_codes_new, name="recovery_codes_new"),
]
