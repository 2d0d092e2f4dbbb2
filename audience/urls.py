from django.urls import path

from audience import views

app_name = "audience"

urlpatterns = [
    path("t/<slug:tenant>/fields/", views.field_list, name="fields"),
    path("t/<slug:tenant>/fields/new/", views.field_create, name="field_create"),
    path("t/<slug:tenant>/fields/<int:pk>/", views.field_edit, name="field_edit"),
    path("t/<slug:tenant>/fields/<int:pk>/delete/", views.field_delete, name="field_delete"),
    path("t/<slug:tenant>/fields/<int:pk>/options/<int:option_pk>/", views.option_edit,
         name="option_edit"),
    path("t/<slug:tenant>/fields/<int:pk>/options/<int:option_pk>/remove/",
         views.option_remove, name="option_remove"),
]
