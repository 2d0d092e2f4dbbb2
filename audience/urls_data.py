"""URLs of the audience data pages (subscribers, groups, campaigns)."""

from django.urls import path

from audience import views_data as views

app_name = "audience_data"

urlpatterns = [
    path("t/<slug:tenant>/subscribers/", views.subscriber_list, name="subscribers"),
    path("t/<slug:tenant>/subscribers/export.csv", views.subscriber_export,
         name="subscribers_export"),
    path("t/<slug:tenant>/subscribers/<int:pk>/", views.subscriber_detail, name="subscriber"),
    path("t/<slug:tenant>/subscribers/<int:pk>/unsubscribe/", views.subscriber_unsubscribe,
         name="subscriber_unsubscribe"),
    path("t/<slug:tenant>/groups/", views.group_list, name="groups"),
    path("t/<slug:tenant>/groups/<int:pk>/", views.group_detail, name="group"),
    path("t/<slug:tenant>/groups/<int:pk>/import/", views.group_import, name="group_import"),
    path("t/<slug:tenant>/groups/<int:pk>/export.csv", views.group_export, name="group_export"),
    path("t/<slug:tenant>/groups/<int:pk>/members/<int:subscriber>/remove/",
         views.group_remove_member, name="group_remove_member"),
    path("t/<slug:tenant>/campaigns/", views.campaign_list, name="campaigns"),
    path("t/<slug:tenant>/campaigns/<int:pk>/", views.campaign_detail, name="campaign"),
]
