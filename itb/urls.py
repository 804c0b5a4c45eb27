"""Top-level URL configuration."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from alerts.health import alerts_health
from itb.views import healthz
from web import views as web_views

admin.site.site_header = "ITB pump clinic"
admin.site.site_title = "ITB pump clinic"
admin.site.index_title = "Clinic administration"
admin.site.enable_nav_sidebar = False

urlpatterns = [
    # The home page is the one route named without a namespace ("home"); the rest are "web:…".
    path("", web_views.home, name="home"),
    path("", include("web.urls")),
    path("", include("pumps.urls")),
    path("", include("refills.urls")),
    path("alerts/", include("alerts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("healthz/alerts", alerts_health, name="healthz-alerts"),
    path("api/v1/dosing/", include("dosing.api.urls")),
    path("api/v1/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/docs/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
