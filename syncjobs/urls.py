from django.urls import path

from syncjobs.views import alerts, health, issues, jobs, lists, privacy, sync

app_name = "syncjobs"

urlpatterns = [
    path("t/<slug:tenant>/health/", health.sync_health, name="health"),
    path("t/<slug:tenant>/jobs/", jobs.job_list, name="list"),
    path("t/<slug:tenant>/jobs/<int:pk>/", jobs.job_detail, name="detail"),
    path("t/<slug:tenant>/jobs/<int:pk>/progress/", jobs.job_progress, name="progress"),
    path("t/<slug:tenant>/jobs/<int:pk>/cancel/", jobs.job_cancel, name="cancel"),
    path("t/<slug:tenant>/sync/start/", sync.sync_start, name="sync_start"),
    path("t/<slug:tenant>/sync/issues/", issues.issue_list, name="issues"),
    path("t/<slug:tenant>/alerts/", alerts.incident_list, name="incidents"),
    path("t/<slug:tenant>/sync/issues/retry-all/", issues.issue_retry_all,
         name="issue_retry_all"),
    path("t/<slug:tenant>/sync/issues/reason/<slug:key>/retry/", issues.issue_group_retry,
         name="issue_group_retry"),
    path("t/<slug:tenant>/sync/issues/reason/<slug:key>/ignore/", issues.issue_group_ignore,
         name="issue_group_ignore"),
    path("t/<slug:tenant>/sync/issues/<int:pk>/", issues.issue_detail, name="issue"),
    path("t/<slug:tenant>/sync/issues/<int:pk>/retry/", issues.issue_retry,
         name="issue_retry"),
    path("t/<slug:tenant>/sync/issues/<int:pk>/ignore/", issues.issue_ignore,
         name="issue_ignore"),
]

urlpatterns += [
    path("t/<slug:tenant>/crm-lists/", lists.crm_lists, name="crm_lists"),
    path("t/<slug:tenant>/crm-lists/refresh/", lists.crm_lists_refresh,
         name="crm_lists_refresh"),
    path("t/<slug:tenant>/crm-lists/<uuid:list_id>/sync/", lists.crm_list_sync,
         name="crm_list_sync"),
]

# Subject rights (GDPR Art. 15, 17): docs/consent.md.
urlpatterns += [
    path("t/<slug:tenant>/privacy/", privacy.privacy_page, name="privacy"),
    path("t/<slug:tenant>/privacy/export.json", privacy.access_export, name="access_export"),
    path("t/<slug:tenant>/subscribers/<int:pk>/personal-data.json",
         privacy.subscriber_access_export, name="subscriber_access_export"),
    path("t/<slug:tenant>/subscribers/<int:pk>/erase/", privacy.subscriber_erase,
         name="subscriber_erase"),
]
