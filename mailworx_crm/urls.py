from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("", include("tenants.urls")),
    path("", include("orgsettings.urls")),
    path("", include("businessunits.urls")),
    path("", include("fieldmapping.urls")),
    path("", include("audience.urls")),
    path("", include("syncjobs.urls")),
    path("", include("audience.urls_data")),
]

