
app_name = "orgsettings"

urlpatterns: list = []  # filled by the foundation views
