from django.urls import path

from fieldmapping import views

app_name = "fieldmapping"

urlpatterns = [
    path("t/<slug:tenant>/business-units/<int:unit_pk>/mappings/<str:entity>/new/",
         views.mapping_create, name="create"),
    path("t/<slug:tenant>/business-units/<int:unit_pk>/mappings/<str:entity>/dynamic/",
         views.mapping_dynamic, name="dynamic"),
    path("t/<slug:tenant>/mappings/<int:pk>/", views.mapping_edit, name="edit"),
    path("t/<slug:tenant>/mappings/<int:pk>/delete/", views.mapping_delete, name="delete"),
    path("t/<slug:tenant>/crm-attributes/pull/", views.attribute_pull, name="attribute_pull"),
]
