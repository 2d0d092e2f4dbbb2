
app_name = "businessunits"

urlpatterns: list = []
