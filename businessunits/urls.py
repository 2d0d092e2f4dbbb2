from django.urls import path

from businessunits import views

app_name = "businessunits"

urlpatterns = [
    path("t/<slug:tenant>/business-units/", views.unit_list, name="list"),
    path("t/<slug:tenant>/business-units/new/", views.unit_create, name="create"),
    path("t/<slug:tenant>/business-units/<int:pk>/", views.unit_detail, name="detail"),
    path("t/<slug:tenant>/business-units/<int:pk>/edit/", views.unit_edit, name="edit"),
    path("t/<slug:tenant>/business-units/<int:pk>/delete/", views.unit_delete, name="delete"),
]
