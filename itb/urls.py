"""Top-level URL configuration."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from accounts import views as account_views
from alerts.health import alerts_health
from itb.security import REDOC_INLINE_STYLES, with_extra_sources
from itb.views import favicon, healthz
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
    path("", include("audit.urls")),
    path("alerts/", include("alerts.urls")),
    # Sign-in with the lockout's message (accounts.views), ahead of Django's own "login".
    path("accounts/login/", account_views.SignInView.as_view(), name="login"),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    # Pages name their icon; the admin and the API docs do not, and browsers then ask here.
    path("favicon.ico", favicon, name="favicon"),
    path("healthz/alerts", alerts_health, name="healthz-alerts"),
    path("api/v1/dosing/", include("dosing.api.urls")),
    path("api/v1/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The docs pages load every script and style from files (no inline script or style), so
    # they work under the Content-Security-Policy (itb/security.py): Swagger UI's set-up script
    # is served by the split view at /api/docs/?script=; ReDoc's page admits the two inline
    # styles its script adds, by their hashes (REDOC_INLINE_STYLES).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api_docs/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path(
        "api/docs/redoc/",
        with_extra_sources(
            SpectacularRedocView.as_view(
                url_name="api-schema", template_name="api_docs/redoc.html"
            ),
            style_src=REDOC_INLINE_STYLES,
        ),
        name="api-redoc",
    ),
]

# Plain error pages that show the request id and nothing else (itb/views.py).
handler400 = "itb.views.bad_request"
handler403 = "itb.views.permission_denied"
handler404 = "itb.views.page_not_found"
handler500 = "itb.views.server_error"
