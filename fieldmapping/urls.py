
app_name = "fieldmapping"

urlpatterns: list = []
