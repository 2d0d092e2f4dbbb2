from django.urls import path

from orgsettings import check_views, views

app_name = "orgsettings"

urlpatterns = [
    path("t/<slug:tenant>/setup/", views.progress, name="progress"),
    path("t/<slug:tenant>/settings/", views.edit, name="edit"),
    path("t/<slug:tenant>/setup/prepare/", views.prepare, name="prepare"),
    path("t/<slug:tenant>/setup/reissue/", views.reissue, name="reissue"),
    path("t/<slug:tenant>/setup/check/", check_views.check, name="check"),
    path("t/<slug:tenant>/history/", views.history, name="history"),
]
