from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.alert_list, name="list"),
    path("<int:pk>/", views.alert_detail, name="detail"),
    path("<int:pk>/acknowledge/", views.alert_acknowledge_view, name="acknowledge"),
    path("<int:pk>/resolve/", views.alert_resolve_view, name="resolve"),
    path("ack/<str:token>/", views.ack_link, name="ack_link"),
]
