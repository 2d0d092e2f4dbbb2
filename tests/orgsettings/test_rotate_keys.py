from __future__ import annotations

from io import StringIO
from typing import Any as SettingsWrapper

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from orgsettings.models import OrgSettings
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def raw_secret() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM orgsettings_orgsettings")
        return str(cursor.fetchone()[0])


def test_it_re_encrypts_under_the_newest_key(settings: SettingsWrapper, tenant: Tenant) -> None:
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    OrgSettings.objects.create(tenant=tenant, crm_url="http://crm/x", deployment="online",
                               reaction_mode="absolute", client_secret="top-secret",
                               onprem_password="")
    before = raw_secret()
    settings.FIELD_ENCRYPTION_KEYS = [key_b, key_a]
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "orgsettings.OrgSettings (client_secret, onprem_password): 1 value(s)" in out.getvalue()
    assert raw_secret() != before
    settings.FIELD_ENCRYPTION_KEYS = [key_b]
    assert OrgSettings.objects.get(tenant=tenant).client_secret == "top-secret"
    assert OrgSettings.objects.get(tenant=tenant).onprem_password == ""
