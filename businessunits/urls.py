from django.urls import path

from businessunits import owner_views, views

app_name = "businessunits"

urlpatterns = [
    path("t/<slug:tenant>/business-units/", views.unit_list, name="list"),
    path("t/<slug:tenant>/business-units/new/", views.unit_create, name="create"),
    path("t/<slug:tenant>/business-units/<int:pk>/", views.unit_detail, name="detail"),
    path("t/<slug:tenant>/business-units/<int:pk>/edit/", views.unit_edit, name="edit"),
    path("t/<slug:tenant>/business-units/<int:pk>/delete/", views.unit_delete, name="delete"),
    path("t/<slug:tenant>/crm-owners/", owner_views.owner_cache, name="owners"),
    path("t/<slug:tenant>/crm-owners/search/", owner_views.owner_search, name="owner_search"),
    path("t/<slug:tenant>/crm-owners/choose/", owner_views.owner_choose, name="owner_choose"),
    path("t/<slug:tenant>/crm-owners/refresh/", owner_views.owner_refresh,
         name="owner_refresh"),
]
