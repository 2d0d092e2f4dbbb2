from django.urls import path

from syncjobs import views

app_name = "syncjobs"

urlpatterns = [
    path("t/<slug:tenant>/jobs/", views.job_list, name="list"),
    path("t/<slug:tenant>/jobs/<int:pk>/", views.job_detail, name="detail"),
    path("t/<slug:tenant>/jobs/<int:pk>/progress/", views.job_progress, name="progress"),
    path("t/<slug:tenant>/jobs/<int:pk>/cancel/", views.job_cancel, name="cancel"),
]
