from django.urls import path

from audience.views import campaigns, fields, groups, subscribers

app_name = "audience"

# The subscriber-field pages (namespace "audience").
urlpatterns = [
    path("t/<slug:tenant>/fields/", fields.field_list, name="fields"),
    path("t/<slug:tenant>/fields/new/", fields.field_create, name="field_create"),
    path("t/<slug:tenant>/fields/<int:pk>/", fields.field_edit, name="field_edit"),
    path("t/<slug:tenant>/fields/<int:pk>/delete/", fields.field_delete, name="field_delete"),
    path("t/<slug:tenant>/fields/<int:pk>/options/<int:option_pk>/", fields.option_edit,
         name="option_edit"),
    path("t/<slug:tenant>/fields/<int:pk>/options/<int:option_pk>/remove/",
         fields.option_remove, name="option_remove"),
]

# The audience data pages (namespace "audience_data"): subscribers, groups, campaigns.
data_urlpatterns = [
    path("t/<slug:tenant>/subscribers/", subscribers.subscriber_list, name="subscribers"),
    path("t/<slug:tenant>/subscribers/export.csv", subscribers.subscriber_export,
         name="subscribers_export"),
    path("t/<slug:tenant>/subscribers/<int:pk>/", subscribers.subscriber_detail, name="subscriber"),
    path("t/<slug:tenant>/subscribers/<int:pk>/edit/", subscribers.subscriber_edit,
         name="subscriber_edit"),
    path("t/<slug:tenant>/subscribers/<int:pk>/unsubscribe/", subscribers.subscriber_unsubscribe,
         name="subscriber_unsubscribe"),
    path("t/<slug:tenant>/groups/", groups.group_list, name="groups"),
    path("t/<slug:tenant>/groups/<int:pk>/", groups.group_detail, name="group"),
    path("t/<slug:tenant>/groups/<int:pk>/import/", groups.group_import, name="group_import"),
    path("t/<slug:tenant>/groups/<int:pk>/export.csv", groups.group_export, name="group_export"),
    path("t/<slug:tenant>/groups/<int:pk>/members/<int:subscriber>/remove/",
         groups.group_remove_member, name="group_remove_member"),
    path("t/<slug:tenant>/campaigns/", campaigns.campaign_list, name="campaigns"),
    path("t/<slug:tenant>/campaigns/<int:pk>/", campaigns.campaign_detail, name="campaign"),
]
