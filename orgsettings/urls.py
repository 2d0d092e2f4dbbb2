from django.urls import path

from orgsettings.views import app_users, check, settings, start

app_name = "orgsettings"

urlpatterns = [
    path("t/<slug:tenant>/setup/", settings.progress, name="progress"),
    path("t/<slug:tenant>/settings/", settings.edit, name="edit"),
    path("t/<slug:tenant>/settings/app-users/", app_users.add, name="app_user_add"),
    path("t/<slug:tenant>/settings/app-users/<int:pk>/remove/", app_users.remove,
         name="app_user_remove"),
    path("t/<slug:tenant>/setup/prepare/", settings.prepare, name="prepare"),
    path("t/<slug:tenant>/setup/reissue/", settings.reissue, name="reissue"),
    path("t/<slug:tenant>/setup/revoke/", settings.revoke, name="revoke"),
    path("t/<slug:tenant>/setup/check/", check.check, name="check"),
    path("t/<slug:tenant>/setup/start/", start.start, name="start"),
    path("t/<slug:tenant>/history/", settings.history, name="history"),
]
