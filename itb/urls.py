"""Top-level URL configuration."""

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from itb.views import healthz

admin.site.site_header = "ITB pump clinic"
admin.site.site_title = "ITB pump clinic"
admin.site.index_title = "Clinic administration"
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
