from django.urls import path

from tenants import views

app_name = "tenants"

urlpatterns = [
    path("", views.home, name="home"),
    path("t/<slug:tenant>/", views.dashboard, name="dashboard"),
    path("t/<slug:tenant>/members/", views.members, name="members"),
    path("t/<slug:tenant>/members/<int:pk>/role/", views.change_role, name="change_role"),
    path("t/<slug:tenant>/members/<int:pk>/remove/", views.remove_member, name="remove_member"),
    path("t/<slug:tenant>/members/invitations/<int:pk>/cancel/", views.cancel_invitation,
         name="cancel_invitation"),
    path("invitations/<str:secret>/", views.invitation, name="invitation"),
]
