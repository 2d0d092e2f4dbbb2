import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailworx_crm.settings")
application = get_wsgi_application()

from mailworx_crm.startup import require_static_manifest  # noqa: E402 - needs settings

require_static_manifest()  # fail at start-up, not on every page
