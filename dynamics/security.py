"""Who the connector is, what it may do, users and teams, and marketing-list membership."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dynamics.errors import UnexpectedAnswer
from dynamics.odata import record_path
from dynamics.records import RecordsApi


@dataclass(frozen=True)
class WhoAmI:
    user_id: str
    business_unit_id: str
    organization_id: str


@dataclass(frozen=True)
class Privilege:
    name: str
    depth: str  # Basic, Local, Deep, Global
    privilege_id: str


@dataclass(frozen=True)
class Principal:
    """A user or team that can own records (owner picker, C11)."""

    id: str
    name: str
    kind: str  # "systemuser" or "team"
    email: str = ""  # users: primary email (internalemailaddress)
    domain_name: str = ""  # users: how they sign in (UPN, or DOMAIN\\user on-premise)


class SecurityApi(RecordsApi):
    def who_am_i(self) -> WhoAmI:
        data = self.call_function("WhoAmI()")
        try:
            return WhoAmI(str(data["UserId"]).lower(), str(data["BusinessUnitId"]).lower(),
                          str(data["OrganizationId"]).lower())
        except (KeyError, TypeError):
            raise UnexpectedAnswer("The CRM's WhoAmI answer is incomplete.",
                                request="GET WhoAmI", key="whoami_incomplete") from None

    def user_privileges(self, user_id: str) -> list[Privilege]:
        user = record_path("systemusers", user_id)
        data = self.call_function(f"{user}/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()")
        rows = data.get("RolePrivileges") if isinstance(data, dict) else None
        return [Privilege(str(r.get("PrivilegeName") or ""), str(r.get("Depth") or ""),
                          str(r.get("PrivilegeId") or ""))
                for r in rows or [] if isinstance(r, dict)]

    def user_roles(self, user_id: str) -> list[dict[str, Any]]:
        return list(self.query(f"{record_path('systemusers', user_id)}/systemuserroles_association",
                               select=["roleid", "name"]))

    def users(self, include_disabled: bool = False) -> list[Principal]:
        rows = self.query("systemusers",
                          select=["systemuserid", "fullname", "internalemailaddress",
                                  "domainname"],
                          filter=None if include_disabled else "isdisabled eq false",
                          orderby="fullname")
        return [Principal(str(r["systemuserid"]).lower(), str(r.get("fullname") or ""),
                          "systemuser", email=str(r.get("internalemailaddress") or ""),
                          domain_name=str(r.get("domainname") or "")) for r in rows]

    def teams(self) -> list[Principal]:
        rows = self.query("teams", select=["teamid", "name"], orderby="name")
        return [Principal(str(r["teamid"]).lower(), str(r.get("name") or ""), "team")
                for r in rows]

    # -- marketing lists (docs/dataverse-webapi.md §Marketing lists) ----------------------------

    def add_member_list(self, list_id: str, entity_id: str) -> str | None:
        """AddMemberList; returns the listmember id the CRM made."""
        data = self.call_action(
            f"{record_path('lists', list_id)}/Microsoft.Dynamics.CRM.AddMemberList",
            {"EntityId": entity_id})
        return str(data["Id"]).lower() if isinstance(data, dict) and data.get("Id") else None

    def add_list_members(self, list_id: str, member_table: str,
                         member_ids: Sequence[str]) -> None:
        """AddListMembersList: many members of one type in one request."""
        if not member_ids:
            return
        self.transport.request("POST", "AddListMembersList", operations=len(member_ids),
                               json_body={
            "List": {"@odata.type": "Microsoft.Dynamics.CRM.list", "listid": list_id},
            "Members": [{"@odata.type": f"Microsoft.Dynamics.CRM.{member_table}",
                         f"{member_table}id": m} for m in member_ids]})

    def remove_member_list(self, list_id: str, entity_id: str) -> None:
        """RemoveMemberList (9.x); `entity_id` is the member record's id."""
        self.call_action(
            f"{record_path('lists', list_id)}/Microsoft.Dynamics.CRM.RemoveMemberList",
            {"EntityId": entity_id})
