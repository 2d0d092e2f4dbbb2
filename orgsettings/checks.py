"""Check integration (C9, C15): a job that tests the CRM connection step by step.

Every step ends ok / warning / failed / skipped with a sentence an admin can act on. The
steps are written to the run's result as they finish, so the page turns them green live.
A fundamental failure (no answer, untrusted certificate, refused sign-in, unsupported
version) skips the steps that depend on it. A passing check is recorded on the
organisation settings: syncs start only after one passed since the connection changed.

The check is no port scanner (SPEC N8): for the CRM URL and for the sign-in authority,
every way of not finding a CRM or a sign-in service there — an address mailworx does not
connect to, nothing listening, a timeout, a failed TLS handshake, an unknown name, or a
server that answers but is no CRM — gets one and the same sentence, so the answers do
not tell what listens at an address. Only an answer that is a Dataverse Web API's (or an
OAuth error from a sign-in service) is reported in detail.

A step is ✔ only when it truly passed: a server that answers with a sign-in challenge
"answers", but when the sign-in service then says it knows no organisation at that
address, "The CRM answers" turns ✖ with that cause. The probe's challenge also tells an
Online CRM (an Entra ID token) from an on-premise one (Windows sign-in), so choosing the
wrong deployment is named before any credentials are sent.

Messages are stored texts (mailworx_crm/texts.py): the result holds msgids and
parameters, and the page translates them for whoever reads it (C16).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone
from django.utils.translation import gettext_noop

from dynamics.connection import Deployment
from dynamics.crm_api import CrmApi, open_client
from dynamics.detect import Detected, detect, with_api_version
from dynamics.errors import (
    AuthenticationFailed,
    DynamicsError,
    NotFound,
    PrivilegeError,
    RetriesExhausted,
    UnsupportedVersion,
)
from mailworx_crm.crm_errors import describe
from mailworx_crm.texts import StoredText, render, stored_plural, stored_text
from orgsettings import solution
from orgsettings.app_users import record_check, to_check
from orgsettings.check_answers import (
    _nobody_answered,
    deployment_mismatch,
    no_crm_answer,
    no_sign_in_service,
    organisation_not_found,
)
from orgsettings.check_app_users import TITLE as APP_USER_TITLE
from orgsettings.check_app_users import check_app_user, step_key
from orgsettings.connection import client_for
from orgsettings.journeys_check import journeys_consent_check
from orgsettings.models import AdditionalAppUser, OrgSettings
from syncjobs.runner import JobContext

OK, WARNING, FAILED, SKIPPED = "ok", "warning", "failed", "skipped"

# Titles are stored untranslated and translated when rendered (the page's language).
STEPS: list[tuple[str, str]] = [
    ("reach", gettext_noop("The CRM answers")),
    ("tls", gettext_noop("Its certificate is trusted")),
    ("auth", gettext_noop("Sign-in works")),
    ("whoami", gettext_noop("WhoAmI: the connector's CRM user")),
    ("version", gettext_noop("The CRM version is supported")),
    ("schema", gettext_noop("The mailworx solution is installed")),
    ("privileges", gettext_noop("The user has the privileges it needs")),
    ("roles", gettext_noop("The mailworx security roles")),
    ("change_tracking", gettext_noop("Change tracking")),
    ("bulk", gettext_noop("Bulk operations")),
    ("journeys", gettext_noop("Consent in Customer Insights – Journeys")),
]


@dataclass
class StepResult:
    key: str
    title: str
    status: str = "pending"
    message: StoredText | str = ""
    hint: StoredText | str = ""


class _Check:
    def __init__(self, ctx: JobContext, client: CrmApi,
                 app_users: list[tuple[AdditionalAppUser, bool]]) -> None:
        self.ctx = ctx
        self.client = client
        self.detected: Detected | None = None
        self.own_client: CrmApi | None = None  # the client detection chose, if another
        self.steps = {key: StepResult(key, title) for key, title in STEPS}
        # A step per additional application user (orgsettings/check_app_users.py).
        self.app_users = app_users
        self.app_users_passed: dict[int, bool] = {}
        for user, _sendable in app_users:
            self.steps[step_key(user)] = StepResult(step_key(user), APP_USER_TITLE)
        self.user_id = ""
        self.held: set[str] | None = None  # the user's privileges, once read
        self.connection = client.transport.connection

    def publish(self) -> None:
        self.ctx.set_result(steps=[asdict(s) for s in self.steps.values()])

    def set(self, key: str, status: str, message: StoredText | str,
            hint: StoredText | str = "") -> None:
        step = self.steps[key]
        step.status, step.message, step.hint = status, message, hint
        done = sum(s.status != "pending" for s in self.steps.values())
        self.publish()
        self.ctx.progress(done, len(self.steps), str(step.title))

    def skip_rest(self, after: str) -> None:
        title = dict(STEPS)[after]
        for step in self.steps.values():
            if step.status == "pending":
                step.status = SKIPPED
                step.message = stored_text("Not checked: needs “%(step)s”.",
                                           step=stored_text(title))
        self.publish()

    def run(self) -> bool:
        fundamentals: list[tuple[str, Callable[[], bool]]] = [
            ("reach", self.reach), ("auth", self.auth), ("version", self.version)]
        for key, fundamental in fundamentals:
            if not fundamental():
                failed = next((k for k, s in self.steps.items() if s.status == FAILED), key)
                self.skip_rest(failed)
                return False
        needs: list[Callable[[], None]] = [
            self.schema, self.privileges, self.roles, self.change_tracking, self.bulk,
            self.journeys]
        for step in needs:
            try:
                step()
            except DynamicsError as exc:
                current = next(s for s in self.steps.values() if s.status == "pending")
                self.set(current.key, FAILED, describe(exc))
        for user, sendable in self.app_users:
            passed, message, hint = check_app_user(self.connection, user, sendable)
            self.app_users_passed[user.pk] = passed
            self.set(step_key(user), OK if passed else FAILED, message, hint)
        return all(s.status in (OK, WARNING) for s in self.steps.values())

    # -- fundamentals --------------------------------------------------------------------

    def reach(self) -> bool:
        url = self.connection.api_url
        https = urlsplit(url).scheme == "https"
        try:
            probe = self.client.probe()
        except DynamicsError:
            probe = None
        if probe is None or not probe.dataverse:
            self.set("reach", FAILED, *no_crm_answer())
            return False
        if not probe.certificate_trusted:
            self.set("reach", OK, stored_text("The CRM answered the TLS handshake."))
            self.set("tls", FAILED, stored_text(
                "The CRM's certificate is not trusted. Add its CA to the connection's CA "
                "bundle."), stored_text(
                "If the CRM uses a certificate of your own CA, paste that CA's certificate "
                "(PEM) into “CA certificates” in the organisation settings."))
            return False
        mismatch = deployment_mismatch(self.connection.deployment, probe.challenges)
        if mismatch is not None:
            self.set("reach", FAILED, *mismatch)
            return False
        self.set("reach", OK, stored_text("The Web API answered (HTTP %(status)s).",
                                          status=probe.status))
        if https:
            self.set("tls", OK, stored_text("The certificate is valid and trusted."))
        else:
            self.set("tls", WARNING, stored_text(
                "The connection uses plain HTTP: nothing is encrypted."), stored_text(
                "Use https:// for a CRM reachable outside a protected network."))
        return True

    def detect(self) -> None:
        """On-premise: the highest Web API version the server offers, or the Organization
        Service on CRM 2013/2015; the client for it replaces the configured one."""
        connection = self.connection
        configured = connection.api_url.rstrip("/").rsplit("/", 1)[-1]
        if connection.deployment != Deployment.ON_PREMISE:
            self.detected = Detected("webapi", configured, "")
            return
        before_send = self.client.transport.before_send
        found = self.detected = detect(connection, before_send=before_send)
        if found.protocol == "soap" or found.api_version != configured:
            chosen = with_api_version(connection, found.api_version) if found.api_version \
                else connection
            self.own_client = self.client = open_client(chosen, found.protocol,
                                                        before_send=before_send)

    def auth(self) -> bool:
        try:
            self.detect()
            who = self.client.who_am_i()
        except DynamicsError as exc:
            nobody = _nobody_answered(exc)
            if nobody is not None:
                self.set("auth", FAILED, *(no_sign_in_service(self.connection.authority)
                                           if nobody == "sign-in" else no_crm_answer()))
                return False
            if isinstance(exc, AuthenticationFailed) and exc.key == "unknown_resource":
                # The server answered a challenge, but there is no organisation behind it:
                # "The CRM answers" did not truly pass.
                self.set("reach", FAILED, *organisation_not_found(self.connection.api_url))
                return False
            if isinstance(exc, AuthenticationFailed):
                self.set("auth", FAILED, describe(exc))
                return False
            if isinstance(exc, PrivilegeError):
                self.set("auth", OK, stored_text("The sign-in service issued a token."))
                self.set("whoami", FAILED, describe(exc), stored_text(
                    "Create an application user for the app registration in the CRM and give "
                    "it the “mailworx User” or “mailworx Administrator” role."))
                return False
            if isinstance(exc, UnsupportedVersion):
                self.set("auth", OK, stored_text("The server accepted the credentials."))
                self.set("whoami", FAILED, describe(exc))
                self.set("version", FAILED, describe(exc))
                return False
            if isinstance(exc, NotFound):
                self.set("auth", OK, stored_text("The server accepted the credentials."))
                message = stored_text(
                    "Neither the Web API nor the Organization Service (SOAP) answers at this "
                    "address. Check the organisation name in the CRM URL.")
                self.set("whoami", FAILED, message)
                self.set("version", FAILED, message)
                return False
            if isinstance(exc, RetriesExhausted):
                self.set("auth", FAILED, describe(exc))
                return False
            raise
        self.user_id = who.user_id
        self.set("auth", OK, stored_text("Signed in."))
        user, unit = self._names(who.user_id, who.business_unit_id)
        self.set("whoami", OK, stored_text("User “%(user)s” in business unit “%(bu)s”.",
                                           user=user, bu=unit))
        return True

    def _names(self, user_id: str, unit_id: str) -> tuple[str, str]:
        """The connector user's and its business unit's names (an admin knows them, not
        their ids); the id when the name cannot be read."""
        def name(entity_set: str, key: str, column: str, record_id: str) -> str:
            try:
                row = next(iter(self.client.query(entity_set, select=[column],
                                                  filter=f"{key} eq {record_id}", top=1)), None)
            except DynamicsError:
                return record_id
            return str(row.get(column) or record_id) if row else record_id
        return (name("systemusers", "systemuserid", "fullname", user_id),
                name("businessunits", "businessunitid", "name", unit_id))

    def version(self) -> bool:
        try:
            caps = self.client.capabilities
        except UnsupportedVersion as exc:
            self.set("version", FAILED, describe(exc))
            return False
        if self.client.protocol == "soap":
            if caps.major < 6:
                self.set("version", FAILED, stored_text(
                    "The CRM reports version %(version)s. The connector needs Dynamics CRM "
                    "2013 (6.x) or later.", version=caps.version))
                return False
            self.set("version", OK, stored_text(
                "Version %(version)s, through the Organization Service (SOAP): CRM 2013 and "
                "2015 have no Web API.", version=caps.version))
        else:
            api = self.client.transport.connection.api_url.rstrip("/").rsplit("/", 1)[-1]
            self.set("version", OK, stored_text(
                "Version %(version)s, through the Web API (%(api)s).", version=caps.version,
                api=api))
        return True

    # -- what the connector needs --------------------------------------------------------

    def schema(self) -> None:
        missing: list[StoredText | str] = []
        for entity, needed in solution.REQUIRED_ATTRIBUTES.items():
            try:
                attributes = {a.logical_name: a for a in self.client.entity_attributes(entity)}
            except NotFound:
                missing.append(stored_text("table %(entity)s", entity=entity))
                continue
            missing += [f"{entity}.{name}" for name in needed if name not in attributes]
            channel = attributes.get("channeltypecode")
            if entity == "campaignactivity" and channel is not None and not any(
                    o.value == solution.MAILWORX_CHANNEL for o in channel.options):
                missing.append(stored_text(
                    "the “mailworx campaign” channel of campaign activities"))
        if missing:
            self.set("schema", FAILED, stored_text("Missing: %(list)s.", list=missing),
                     stored_text("Import the mailworx managed solution into the CRM (see the "
                                 "installation guide), then check again."))
        else:
            self.set("schema", OK, stored_text(
                "All tables and columns of the mailworx solution exist."))

    def privileges(self) -> None:
        hint = stored_text("Assign the “mailworx User” or “mailworx Administrator” role to "
                           "the connector's user in the CRM.")
        try:
            held = self.held = {p.name for p in self.client.user_privileges(self.user_id)}
        except PrivilegeError:
            self.set("privileges", FAILED, stored_text(
                "The connector's user may not even read its own privileges (it lacks "
                "prvReadUser), so it certainly lacks the ones the sync needs."), hint)
            return
        missing = [p for p in solution.REQUIRED_PRIVILEGES if p not in held]
        if missing:
            shown = ", ".join(missing[:12]) + (" …" if len(missing) > 12 else "")
            self.set("privileges", FAILED, stored_plural(
                "The connector's user lacks %(n)s privilege: %(list)s.",
                "The connector's user lacks %(n)s privileges: %(list)s.",
                len(missing), list=shown), hint)
        else:
            self.set("privileges", OK, stored_plural(
                "The %(n)s required privilege is granted.",
                "All %(n)s required privileges are granted.",
                len(solution.REQUIRED_PRIVILEGES)))

    def roles(self) -> None:
        existing = {str(r.get("name")) for r in self.client.query(
            "roles", select=["name"], filter=" or ".join(
                f"name eq '{name}'" for name in solution.ROLES))}
        assigned = {str(r.get("name")) for r in self.client.user_roles(self.user_id)}
        absent = [name for name in solution.ROLES if name not in existing]
        mine = [name for name in solution.ROLES if name in assigned]
        if absent:
            self.set("roles", FAILED, stored_text(
                "Role(s) not found in the CRM: %(list)s.", list=", ".join(absent)),
                stored_text("Import the mailworx managed solution; it ships both roles."))
        elif not mine:
            self.set("roles", WARNING, stored_text(
                "Both roles exist, but neither is assigned to the connector's user."),
                stored_text(
                    "Assign “mailworx User” (or “mailworx Administrator”) to that user."))
        else:
            self.set("roles", OK, stored_text(
                "Both roles exist; the connector's user has %(list)s.", list=", ".join(mine)))

    def change_tracking(self) -> None:
        if self.client.protocol == "soap":
            self.set("change_tracking", WARNING, stored_text(
                "CRM 2013 and 2015 on-premise have no change tracking: syncs read changes by "
                "modification date, and deletions are found by the periodic reconcile run."))
            return
        off = [t for t in solution.TRACKED_TABLES if not self.client.change_tracking_enabled(t)]
        if off:
            self.set("change_tracking", WARNING, stored_text(
                "Not enabled for %(list)s: syncs read changes by modification date instead, "
                "and deletions there are found by the periodic reconcile run.",
                list=", ".join(off)), stored_text(
                "Enable change tracking on these tables in the CRM for faster, complete "
                "incremental syncs."))
        else:
            self.set("change_tracking", OK, stored_text(
                "Enabled for every table the sync reads."))

    def bulk(self) -> None:
        supported = [t for t in solution.BULK_TABLES if self.client.supports_bulk(t)]
        if self.client.protocol == "soap":
            self.set("bulk", OK, stored_text(
                "No bulk messages on this CRM: writes are grouped in ExecuteMultiple "
                "requests instead."))
        elif supported:
            self.set("bulk", OK, stored_text(
                "Bulk messages (CreateMultiple/UpdateMultiple) for %(list)s.",
                list=", ".join(supported)))
        else:
            self.set("bulk", OK, stored_text(
                "No bulk messages on this CRM: writes are grouped in $batch requests "
                "instead."))

    def journeys(self) -> None:
        self.set("journeys", *journeys_consent_check(self.client, self.held))


def run_integration_check(ctx: JobContext) -> dict[str, Any]:
    org = OrgSettings.objects.filter(tenant=ctx.tenant).first()
    with client_for(ctx.tenant) as client:  # NotConfigured explains itself
        check = _Check(ctx, client, to_check(org) if org is not None else [])
        check.publish()
        try:
            passed = check.run()
        finally:
            if check.own_client is not None:
                check.own_client.close()
    if check.detected is not None:
        # Syncs use what was found (orgsettings/connection.py).
        OrgSettings.objects.filter(tenant=ctx.tenant).update(
            crm_protocol=check.detected.protocol, crm_api_version=check.detected.api_version)
    record_check(check.app_users_passed)
    _record_outcome(ctx, passed)
    ctx.log(stored_text("Integration check passed.") if passed
            else stored_text("Integration check failed."))
    if not passed:
        failed = [s for s in check.steps.values() if s.status == FAILED]
        raise CheckFailed(failed[0] if failed else None)
    return {"passed": True}


def _record_outcome(ctx: JobContext, passed: bool) -> None:
    if passed:
        OrgSettings.objects.filter(tenant=ctx.tenant).update(check_passed_at=timezone.now())


class CheckFailed(Exception):
    """Marks the run failed; the explanation (a stored text) names the first failing step."""

    def __init__(self, step: StepResult | None) -> None:
        super().__init__(step.key if step else "check")
        self.explanation: StoredText
        if step is None:
            self.explanation = stored_text("The integration check failed.")
        else:
            self.explanation = stored_text(
                "The integration check failed at “%(step)s”: %(message)s",
                step=stored_text(step.title), message=step.message)

    def __str__(self) -> str:
        return render(self.explanation)
