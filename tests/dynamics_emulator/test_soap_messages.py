"""Execute messages over real HTTPS: WhoAmI, RetrieveVersion, list membership,
Associate, privileges and roles, metadata."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest
import requests

from dynamics_emulator import EmulatorServer
from tests.dynamics_emulator.soaputil import (
    ARR,
    SER,
    SVC,
    A,
    B,
    I,
    attributes,
    entity_ref,
    execute_body,
    fault,
    find,
    ntlm_session,
    pair,
    parse,
    post,
    results,
    service_url,
    text,
    type_of,
    value,
)


@pytest.fixture
def http(emulator: EmulatorServer) -> requests.Session:
    return ntlm_session(emulator)


def _fetch(http: requests.Session, url: str, xml: str) -> list[ET.Element]:
    resp = post(
        http,
        url,
        "RetrieveMultiple",
        f'<RetrieveMultiple xmlns="{SVC}"><query i:type="a:FetchExpression" '
        f'xmlns:a="{A}" xmlns:i="{I}"><a:Query>{escape(xml)}</a:Query></query>'
        f"</RetrieveMultiple>",
    )
    assert resp.status_code == 200, resp.text
    return list(find(parse(resp), f".//{{{SVC}}}RetrieveMultipleResult/a:Entities"))


def _list(http: requests.Session, url: str, name: str) -> tuple[str, int]:
    rows = _fetch(
        http,
        url,
        f'<fetch><entity name="list"><attribute name="membercount"/>'
        f'<filter><condition attribute="listname" operator="eq" '
        f'value="{name}"/></filter></entity></fetch>',
    )
    return text(rows[0], "a:Id"), int(text(attributes(rows[0])["membercount"]))


def _ids(http: requests.Session, url: str, entity: str, n: int) -> list[str]:
    rows = _fetch(
        http,
        url,
        f'<fetch top="{n}"><entity name="{entity}"><filter><condition '
        f'attribute="statecode" operator="eq" value="0"/></filter>'
        f'<order attribute="createdon" descending="true"/></entity></fetch>',
    )
    return [text(r, "a:Id") for r in rows]


@pytest.mark.parametrize(
    ("org", "version"),
    [("legacy2013", "6.1.0.581"), ("legacy2015", "7.1.0.2014"), ("fabrikam", "8.2.2.112")],
)
def test_who_am_i_and_retrieve_version(
    emulator: EmulatorServer, http: requests.Session, org: str, version: str
) -> None:
    url = service_url(emulator, org)
    who = results(post(http, url, "Execute", execute_body("WhoAmIRequest", "WhoAmI", "")))
    assert {k: type_of(v) for k, v in who.items()} == {
        "UserId": "guid",
        "BusinessUnitId": "guid",
        "OrganizationId": "guid",
    }
    assert who["OrganizationId"].text == emulator.emulator.orgs[org].org_id
    got = results(
        post(http, url, "Execute", execute_body("RetrieveVersionRequest", "RetrieveVersion", ""))
    )
    assert got["Version"].text == version


def test_add_list_members_list_and_remove_member_list(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "legacy2015")
    list_id, count = _list(http, url, "Internal distribution (not synced)")
    contacts = _ids(http, url, "contact", 3)
    members = "".join(f"<f:guid>{c}</f:guid>" for c in contacts)
    params = pair("ListId", value("guid", list_id, "e", SER)) + pair(
        "MemberIds", f'<c:value i:type="f:ArrayOfguid" xmlns:f="{ARR}">{members}</c:value>'
    )
    resp = post(
        http,
        url,
        "Execute",
        execute_body("AddListMembersListRequest", "AddListMembersList", params),
    )
    assert resp.status_code == 200, resp.text
    assert _list(http, url, "Internal distribution (not synced)")[1] == count + 3
    remove = pair("ListId", value("guid", list_id, "e", SER)) + pair(
        "EntityId", value("guid", contacts[0], "e", SER)
    )
    resp = post(
        http, url, "Execute", execute_body("RemoveMemberListRequest", "RemoveMemberList", remove)
    )
    assert resp.status_code == 200, resp.text
    assert _list(http, url, "Internal distribution (not synced)")[1] == count + 2
    code, _ = fault(
        post(
            http,
            url,
            "Execute",
            execute_body("RemoveMemberListRequest", "RemoveMemberList", remove),
        )
    )
    assert code == -2147187624  # 0x80048458: not a member


def test_list_member_type_mismatch_is_a_fault(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "legacy2013")
    list_id, _ = _list(http, url, "Key Accounts")  # an account list
    contact = _ids(http, url, "contact", 1)[0]
    params = pair("ListId", value("guid", list_id, "e", SER)) + pair(
        "MemberIds",
        f'<c:value i:type="f:ArrayOfguid" xmlns:f="{ARR}"><f:guid>{contact}</f:guid></c:value>',
    )
    code, message = fault(
        post(
            http,
            url,
            "Execute",
            execute_body("AddListMembersListRequest", "AddListMembersList", params),
        )
    )
    assert code == -2147220989 and "member type" in message


def test_associate_adds_a_list_member(emulator: EmulatorServer, http: requests.Session) -> None:
    url = service_url(emulator, "fabrikam")
    list_id, count = _list(http, url, "Internal distribution (not synced)")
    contact = _ids(http, url, "contact", 1)[0]
    body = (
        f'<Associate xmlns="{SVC}"><entityName>list</entityName><entityId>{list_id}'
        f'</entityId><relationship xmlns:a="{A}" xmlns:i="{I}"><a:PrimaryEntityRole '
        f'i:nil="true"/><a:SchemaName>listcontact_association</a:SchemaName></relationship>'
        f'<relatedEntities xmlns:a="{A}" xmlns:i="{I}"><a:EntityReference><a:Id>{contact}'
        f'</a:Id><a:LogicalName>contact</a:LogicalName><a:Name i:nil="true"/>'
        f"</a:EntityReference></relatedEntities></Associate>"
    )
    resp = post(http, url, "Associate", body)
    assert resp.status_code == 200, resp.text
    assert _list(http, url, "Internal distribution (not synced)")[1] == count + 1
    resp = post(http, url, "Disassociate", body.replace("Associate", "Disassociate"))
    assert resp.status_code == 200, resp.text
    assert _list(http, url, "Internal distribution (not synced)")[1] == count


def test_user_privileges(emulator: EmulatorServer, http: requests.Session) -> None:
    url = service_url(emulator, "legacy2015")
    sync = ntlm_session(emulator, ("FABRIKAM\\mwxsync", "Sync@2016!"))
    user = results(post(sync, url, "Execute", execute_body("WhoAmIRequest", "WhoAmI", "")))
    user_id = user["UserId"].text or ""
    got = results(
        post(
            http,
            url,
            "Execute",
            execute_body(
                "RetrieveUserPrivilegesRequest",
                "RetrieveUserPrivileges",
                pair("UserId", value("guid", user_id, "e", SER)),
            ),
        )
    )
    privileges = got["RolePrivileges"]
    assert type_of(privileges) == "ArrayOfRolePrivilege"
    names = {text(p, f"{{{B}}}PrivilegeName") for p in privileges}
    assert "prvCreateContact" in names and "prvDeleteContact" not in names


def test_roles_of_a_user_through_the_intersect(
    emulator: EmulatorServer, http: requests.Session
) -> None:
    url = service_url(emulator, "legacy2013")
    sync = ntlm_session(emulator, ("FABRIKAM\\mwxsync", "Sync@2016!"))
    user = results(post(sync, url, "Execute", execute_body("WhoAmIRequest", "WhoAmI", "")))
    user_id = user["UserId"].text or ""
    roles = _fetch(
        http,
        url,
        '<fetch><entity name="role"><attribute name="name"/>'
        '<link-entity name="systemuserroles" from="roleid" to="roleid">'
        '<filter><condition attribute="systemuserid" operator="eq" '
        f'value="{user_id}"/></filter></link-entity></entity></fetch>',
    )
    assert {text(attributes(r)["name"]) for r in roles} == {"mailworx User"}


def test_privilege_missing_is_a_fault(emulator: EmulatorServer) -> None:
    reader = ntlm_session(emulator, ("FABRIKAM\\reader", "Reader@2016!"))
    url = service_url(emulator, "legacy2015")
    contact = _ids(ntlm_session(emulator), url, "contact", 1)[0]
    code, message = fault(
        post(
            reader,
            url,
            "Delete",
            f'<Delete xmlns="{SVC}"><entityName>contact</entityName><id>{contact}</id></Delete>',
        )
    )
    assert code == -2147209463 and "prvDeleteContact" in message  # 0x80042f09


def test_retrieve_entity_and_all_entities(emulator: EmulatorServer, http: requests.Session) -> None:
    url = service_url(emulator, "legacy2013")
    params = (
        pair(
            "EntityFilters",
            '<c:value i:type="g:EntityFilters" '
            'xmlns:g="http://schemas.microsoft.com/xrm/2011/Metadata">'
            "Entity Attributes</c:value>",
        )
        + pair("LogicalName", value("string", "contact"))
        + pair("MetadataId", value("guid", "00000000-0000-0000-0000-000000000000", "e", SER))
        + pair("RetrieveAsIfPublished", value("boolean", "false"))
    )
    got = results(
        post(
            http, url, "Execute", execute_body("RetrieveEntityRequest", "RetrieveEntity", params, A)
        )
    )
    md = got["EntityMetadata"]
    assert type_of(md) == "EntityMetadata"
    meta = "{http://schemas.microsoft.com/xrm/2011/Metadata}"
    assert text(md, f"{meta}LogicalName") == "contact"
    assert text(md, f"{meta}ObjectTypeCode") == "2"
    attrs = {text(a, f"{meta}LogicalName"): type_of(a) for a in find(md, f"{meta}Attributes")}
    assert attrs["emailaddress1"] == "StringAttributeMetadata"
    assert attrs["parentcustomerid"] == "LookupAttributeMetadata"
    every = results(
        post(
            http,
            url,
            "Execute",
            execute_body(
                "RetrieveAllEntitiesRequest",
                "RetrieveAllEntities",
                pair(
                    "EntityFilters",
                    '<c:value i:type="g:EntityFilters" xmlns:g="http://schemas.'
                    'microsoft.com/xrm/2011/Metadata">Entity</c:value>',
                ),
                A,
            ),
        )
    )
    names = {text(e, f"{meta}LogicalName") for e in every["EntityMetadata"]}
    assert {"contact", "account", "lead", "list", "listmember"} <= names
    assert all(e.find(f"{meta}Attributes") is None for e in every["EntityMetadata"])


def test_unknown_message_is_a_fault(emulator: EmulatorServer, http: requests.Session) -> None:
    body = execute_body(
        "RetrieveEntityChangesRequest",
        "RetrieveEntityChanges",
        pair("EntityName", value("string", "contact")),
        A,
    )
    for org in ("legacy2013", "legacy2015"):  # no change tracking before CRM 2016
        code, message = fault(post(http, service_url(emulator, org), "Execute", body))
        assert code == -2147220953 and "RetrieveEntityChanges" in message  # 0x80040227
    code, message = fault(post(http, service_url(emulator, "fabrikam"), "Execute", body))
    assert code == -2147015535 and "change tracking" in message  # 0x80072491


def test_entity_reference_parameter_shape(emulator: EmulatorServer, http: requests.Session) -> None:
    """The Retrieve message through Execute (as ExecuteMultiple items send it)."""
    url = service_url(emulator, "legacy2015")
    contact = _ids(http, url, "contact", 1)[0]
    params = (
        f"<a:KeyValuePairOfstringanyType><c:key>Target</c:key>"
        f"{entity_ref('contact', contact)}</a:KeyValuePairOfstringanyType>"
        + pair(
            "ColumnSet",
            f'<c:value i:type="a:ColumnSet"><a:AllColumns>false'
            f'</a:AllColumns><a:Columns xmlns:f="{ARR}"><f:string>'
            f"lastname</f:string></a:Columns></c:value>",
        )
    )
    got = results(
        post(http, url, "Execute", execute_body("RetrieveRequest", "Retrieve", params, A))
    )
    assert set(attributes(got["Entity"])) == {"lastname", "contactid"}
