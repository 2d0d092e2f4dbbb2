from django.urls import path

from syncjobs import list_views, views

app_name = "syncjobs"

urlpatterns = [
    path("t/<slug:tenant>/jobs/", views.job_list, name="list"),
    path("t/<slug:tenant>/jobs/<int:pk>/", views.job_detail, name="detail"),
    path("t/<slug:tenant>/jobs/<int:pk>/progress/", views.job_progress, name="progress"),
    path("t/<slug:tenant>/jobs/<int:pk>/cancel/", views.job_cancel, name="cancel"),
]

urlpatterns += [
    path("t/<slug:tenant>/crm-lists/", list_views.crm_lists, name="crm_lists"),
    path("t/<slug:tenant>/crm-lists/refresh/", list_views.crm_lists_refresh,
         name="crm_lists_refresh"),
    path("t/<slug:tenant>/crm-lists/<uuid:list_id>/sync/", list_views.crm_list_sync,
         name="crm_list_sync"),
]
