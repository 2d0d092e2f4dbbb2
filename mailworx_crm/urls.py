from django.contrib import admin
from django.urls import include, path

from audience import urls as audience_urls
from mailworx_crm.health import healthz
from tenants import auth_views

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Before Django's own, with its name: the choice is noted for the person's emails.
    path("i18n/setlang/", auth_views.set_language, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Before Django's auth URLs, with their names: the log-in refuses integration users,
    # password changes and resets end the user's API tokens, reset requests are limited.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(),
         name="password_change"),
    path("accounts/password_reset/", auth_views.PasswordResetView.as_view(),
         name="password_reset"),
    path("accounts/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("", include("tenants.urls")),
    path("", include("orgsettings.urls")),
    path("", include("businessunits.urls")),
    path("", include("fieldmapping.urls")),
    path("", include("audience.urls")),
    path("", include("syncjobs.urls")),
    path("", include((audience_urls.data_urlpatterns, "audience_data"))),
]

