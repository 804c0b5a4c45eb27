"""Scheduling pages, the clinic calendar and its iCal feeds (namespace "refills")."""

from django.urls import path

from refills import record_views
from refills import schedule_views as views

app_name = "refills"

urlpatterns = [
    path("pumps/<int:pump_pk>/refills/new/", views.schedule, name="schedule"),
    path("refills/<int:visit_pk>/reschedule/", views.reschedule, name="reschedule"),
    path("refills/<int:visit_pk>/cancel/", views.cancel, name="cancel"),
    path("calendar/", views.calendar_view, name="calendar"),
    path("calendar/feeds/", views.feeds, name="feeds"),
    path("calendar/feeds/<int:feed_pk>/revoke/", views.feed_revoke, name="feed_revoke"),
    path("ical/<str:token>.ics", views.ical, name="ical"),
    path("pumps/<int:pk>/refill/", record_views.record_refill, name="record"),
    path("fills/<int:pk>/", record_views.record_done, name="record-done"),
]
