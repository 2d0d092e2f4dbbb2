"""C16: every page a person reads in German holds no English sentence of the catalogue.

The sweep walks every page route (the route list and the scene of objects from
tests/security/test_input_sweep.py) as a German reader (``Accept-Language: de``), with
an integration check and sync issues whose texts were written by a worker (stored texts,
mailworx_crm/texts.py), and fails on any English msgid of the catalogue that has a German
translation yet appears verbatim in the German page.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.test import Client

from dynamics.errors import NotFound, PrivilegeError
from mailworx_crm.crm_errors import describe
from mailworx_crm.texts import as_column, stored_plural, stored_text
from orgsettings.check_answers import no_crm_answer, organisation_not_found
from orgsettings.checks import CheckFailed, StepResult
from syncjobs.models import JobKind, JobLogLine, JobRun, JobStatus, SyncIssue
from tenants.models import Tenant
from tests.security.test_input_sweep import Scene, routes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_dispatch")]

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\{.*?\}\}|\{[^}]*\}")


def english_sentences() -> set[str]:
    """Literal pieces of every translated msgid long enough to be a sentence (three words
    or more), so that a product name or "OK" shared by both languages is no finding."""
    po = polib.pofile(str(Path(settings.BASE_DIR) / "locale/de/LC_MESSAGES/django.po"))
    found: set[str] = set()
    for entry in po.translated_entries():
        for msgid, msgstr in ((entry.msgid, entry.msgstr),
                              (entry.msgid_plural, entry.msgstr_plural.get(1, ""))):
            if not msgid or msgid == msgstr:
                continue
            for piece in PLACEHOLDER.split(msgid):
                piece = piece.strip(" .,:;()“”\"'")
                if len(piece.split()) >= 3 and piece not in msgstr:
                    found.add(piece)
    return found


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def written_by_a_worker(tenant: Tenant) -> list[str]:
    """A failed integration check and sync issues, as an English-speaking worker stores
    them: msgids and parameters. Returns the paths that show them."""
    step = StepResult("reach", "The CRM answers", "failed",
                      *organisation_not_found("https://contosso.crm4.dynamics.com/api/data/v9.2/"))
    steps = [step.__dict__, StepResult("tls", "Its certificate is trusted", "failed",
                                       *no_crm_answer()).__dict__,
             StepResult("privileges", "The user has the privileges it needs", "failed",
                        stored_plural("The connector's user lacks %(n)s privilege: %(list)s.",
                                      "The connector's user lacks %(n)s privileges: %(list)s.",
                                      2, list="prvReadContact, prvWriteContact")).__dict__]
    run = JobRun.objects.create(
        tenant=tenant, kind=JobKind.INTEGRATION_CHECK, status=JobStatus.FAILED,
        result={"steps": steps}, error=as_column(CheckFailed(step).explanation))
    JobLogLine.objects.create(run=run, message=as_column(stored_text(
        "Integration check failed.")))
    issue = SyncIssue.objects.create(tenant=tenant, step="push", run=run,
                                     reason=as_column(describe(NotFound(status=404))),
                                     hint=as_column(describe(PrivilegeError(status=403))))
    base = f"/t/{tenant.slug}"
    return [run.get_absolute_url(), f"{base}/sync/issues/{issue.pk}/", f"{base}/sync/issues/"]


def test_every_page_reads_german_for_a_german_reader(
        tenant: Tenant, other_tenant: Tenant, owner: AbstractUser, member: AbstractUser,
        owner_client: Client) -> None:
    scene = Scene(tenant, other_tenant, member)
    english = english_sentences()
    assert len(english) > 500  # the catalogue was read
    paths = [scene.path(route, tenant.slug) for route, _name in routes()]
    paths += written_by_a_worker(tenant)
    problems: dict[str, set[str]] = {}
    read = 0
    for path in paths:
        owner_client.force_login(owner)  # a page may have logged the client out
        response = owner_client.get(path, HTTP_ACCEPT_LANGUAGE="de")
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        read += 1
        text = visible_text(response.content.decode())
        untranslated = {s for s in english if s in text}
        if untranslated:
            problems[path] = untranslated
    assert read > 30, read
    assert not problems, problems
    # The detector itself works: the same check page read in English is full of findings.
    owner_client.force_login(owner)
    english_page = visible_text(owner_client.get(paths[-3], HTTP_ACCEPT_LANGUAGE="en")
                                .content.decode())
    assert len({s for s in english if s in english_page}) >= 5


def test_the_check_and_issue_texts_are_german(tenant: Tenant, owner_client: Client) -> None:
    """The texts a worker stored read German, plural and all (not only "no English")."""
    check, issue, _issues = written_by_a_worker(tenant)
    page = visible_text(owner_client.get(check, HTTP_ACCEPT_LANGUAGE="de").content.decode())
    assert "Die Organisation https://contosso.crm4.dynamics.com wurde nicht gefunden" in page
    assert "fehlen 2 Berechtigungen" in page
    assert "Nicht geprüft" not in page or "benötigt" in page
    page = visible_text(owner_client.get(issue, HTTP_ACCEPT_LANGUAGE="de").content.decode())
    assert "existiert im CRM nicht" in page and "[HTTP 404]" in page
