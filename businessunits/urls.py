from django.urls import path

from businessunits.views import owners, units

app_name = "businessunits"

urlpatterns = [
    path("t/<slug:tenant>/business-units/", units.unit_list, name="list"),
    path("t/<slug:tenant>/business-units/new/", units.unit_create, name="create"),
    path("t/<slug:tenant>/business-units/<int:pk>/", units.unit_detail, name="detail"),
    path("t/<slug:tenant>/business-units/<int:pk>/edit/", units.unit_edit, name="edit"),
    path("t/<slug:tenant>/business-units/<int:pk>/delete/", units.unit_delete, name="delete"),
    path("t/<slug:tenant>/crm-owners/", owners.owner_cache, name="owners"),
    path("t/<slug:tenant>/crm-owners/search/", owners.owner_search, name="owner_search"),
    path("t/<slug:tenant>/crm-owners/choose/", owners.owner_choose, name="owner_choose"),
    path("t/<slug:tenant>/crm-owners/search-block/", owners.owner_search_block,
         name="owner_search_block"),
    path("t/<slug:tenant>/crm-owners/refresh/", owners.owner_refresh,
         name="owner_refresh"),
]
