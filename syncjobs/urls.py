from django.urls import path

from syncjobs import issue_views, list_views, sync_views, views

app_name = "syncjobs"

urlpatterns = [
    path("t/<slug:tenant>/jobs/", views.job_list, name="list"),
    path("t/<slug:tenant>/jobs/<int:pk>/", views.job_detail, name="detail"),
    path("t/<slug:tenant>/jobs/<int:pk>/progress/", views.job_progress, name="progress"),
    path("t/<slug:tenant>/jobs/<int:pk>/cancel/", views.job_cancel, name="cancel"),
    path("t/<slug:tenant>/sync/start/", sync_views.sync_start, name="sync_start"),
    path("t/<slug:tenant>/sync/issues/", issue_views.issue_list, name="issues"),
    path("t/<slug:tenant>/sync/issues/retry-all/", issue_views.issue_retry_all,
         name="issue_retry_all"),
    path("t/<slug:tenant>/sync/issues/<int:pk>/", issue_views.issue_detail, name="issue"),
    path("t/<slug:tenant>/sync/issues/<int:pk>/retry/", issue_views.issue_retry,
         name="issue_retry"),
    path("t/<slug:tenant>/sync/issues/<int:pk>/ignore/", issue_views.issue_ignore,
         name="issue_ignore"),
]

urlpatterns += [
    path("t/<slug:tenant>/crm-lists/", list_views.crm_lists, name="crm_lists"),
    path("t/<slug:tenant>/crm-lists/refresh/", list_views.crm_lists_refresh,
         name="crm_lists_refresh"),
    path("t/<slug:tenant>/crm-lists/<uuid:list_id>/sync/", list_views.crm_list_sync,
         name="crm_list_sync"),
]
