"""S10/N1: a CRM-side membership change made while a lists run adopts members is not
hidden by the version our own write-back produces; a later run still takes it."""

from __future__ import annotations

from typing import Any

import pytest

from dynamics import DataverseClient
from syncjobs.engine import lists_members
from syncjobs.models import JobStatus, ListLink, ListLinkState
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn
from tests.syncjobs.engine.list_helpers import add_to_list, group_emails, make_list, record

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


def test_S10_a_crm_add_during_adoption_is_taken_by_a_later_run(
        unit: Any, names: None, crm_client: DataverseClient, sync: SyncFn,
        monkeypatch: pytest.MonkeyPatch) -> None:
    list_id = make_list(crm_client, "Versions",
                        [record(crm_client, f"m{i}@v.example") for i in range(2)])
    late = record(crm_client, "late@v.example")
    real = lists_members.adopt_records
    done: list[bool] = []

    def adopt_then_crm_edit(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        if not done:
            done.append(True)
            add_to_list(crm_client, list_id, [late])  # a marketer adds a member meanwhile
        return out

    monkeypatch.setattr(lists_members, "adopt_records", adopt_then_crm_edit)
    assert sync("lists").status == JobStatus.SUCCEEDED
    monkeypatch.setattr(lists_members, "adopt_records", real)
    for _run in range(2):
        run = sync("lists")
        assert run.status == JobStatus.SUCCEEDED, run.error
    group = ListLink.objects.get(list_id=list_id, state=ListLinkState.ACTIVE).group
    assert "late@v.example" in group_emails(group)
