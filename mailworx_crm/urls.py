from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from audience import urls as audience_urls
from tenants.auth_forms import LoginForm

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    # Before Django's auth URLs: the same name, with a form that refuses integration users.
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=LoginForm),
         name="login"),
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

