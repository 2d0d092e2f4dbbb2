"""systemuser, team, businessunit, role and privilege with their N:N intersects."""

from __future__ import annotations

from dynamics_emulator.schema.model import (
    Entity,
    ManyToMany,
    a,
    entity,
    lookup,
    opts,
    ro,
    s,
    system_attrs,
)

# Intersect tables that are not entities of their own here.
INTERSECTS = {
    "systemuserroles": ("systemuserid", "roleid"),
    "teamroles": ("teamid", "roleid"),
    "teammembership": ("teamid", "systemuserid"),
    "roleprivileges": ("roleid", "privilegeid"),
    "campaignactivityitem": ("campaignactivityid", "itemid"),
    "campaignitem": ("campaignid", "entityid"),
}


def intersect_entity(name: str) -> Entity | None:
    """An intersect table as FetchXML/QueryExpression link-entities name it
    (`<link-entity name="systemuserroles" …>`): its two id columns, read-only."""
    cols = INTERSECTS.get(name)
    if cols is None:
        return None
    ent = Entity(name, name, cols[0], cols[0], 0, name, name, name)
    for col in cols:
        ent.attrs[col] = a(col, "Uniqueidentifier", col, col, create=False, update=False)
    return ent


def system_user() -> Entity:
    attrs = [
        s("firstname", 64, "First Name", "Vorname"),
        s("lastname", 64, "Last Name", "Nachname"),
        ro("fullname", "String", "Full Name", "Vollständiger Name", max_length=200),
        s("domainname", 1024, "User Name", "Benutzername"),
        s("internalemailaddress", 100, "Primary Email", "Primäre E-Mail"),
        a("applicationid", "Uniqueidentifier", "Application ID", "Anwendungs-ID"),
        a("azureactivedirectoryobjectid", "Uniqueidentifier", "Azure AD Object ID",
          "Azure AD-Objekt-ID"),
        lookup("businessunitid", "businessunit", "Business Unit", "Unternehmenseinheit"),
        a("isdisabled", "Boolean", "Status", "Status", true_label=("Disabled", "Deaktiviert"),
          false_label=("Enabled", "Aktiviert")),
        a("accessmode", "Picklist", "Access Mode", "Zugriffsmodus",
          options=opts((0, "Read-Write", "Lesen/Schreiben"), (1, "Administrative", "Administrativ"),
                       (2, "Read", "Lesen"), (4, "Non-interactive", "Nicht interaktiv"))),
        *system_attrs(),
    ]
    ent = entity("systemuser", "systemusers", 8, "User", "Benutzer", "User",
                 "systemuserid", "fullname", attrs, ownership="BusinessOwned")
    ent.many["systemuserroles_association"] = ManyToMany(
        "systemuserroles_association", "systemuserroles", "systemuserid", "roleid", "role")
    ent.many["teammembership_association"] = ManyToMany(
        "teammembership_association", "teammembership", "systemuserid", "teamid", "team")
    return ent


def team() -> Entity:
    attrs = [
        s("name", 160, "Team Name", "Teamname", required="SystemRequired"),
        lookup("businessunitid", "businessunit", "Business Unit", "Unternehmenseinheit"),
        a("teamtype", "Picklist", "Team Type", "Teamtyp",
          options=opts((0, "Owner", "Besitzer"), (1, "Access", "Zugriff"),
                       (2, "Security Group", "Sicherheitsgruppe"),
                       (3, "Office Group", "Office-Gruppe"))),
        a("isdefault", "Boolean", "Is Default", "Ist Standard", update=False),
        *system_attrs(),
    ]
    ent = entity("team", "teams", 9, "Team", "Team", "Team", "teamid", "name", attrs,
                 ownership="BusinessOwned")
    ent.many["teamroles_association"] = ManyToMany(
        "teamroles_association", "teamroles", "teamid", "roleid", "role")
    ent.many["teammembership_association"] = ManyToMany(
        "teammembership_association", "teammembership", "teamid", "systemuserid", "systemuser")
    return ent


def business_unit() -> Entity:
    attrs = [
        s("name", 160, "Name", "Name", required="SystemRequired"),
        lookup("parentbusinessunitid", "businessunit", "Parent Business", "Übergeordnete Einheit"),
        *system_attrs(),
    ]
    return entity("businessunit", "businessunits", 10, "Business Unit", "Unternehmenseinheit",
                  "BusinessUnit", "businessunitid", "name", attrs, ownership="BusinessOwned")


def role() -> Entity:
    attrs = [
        s("name", 100, "Name", "Name", required="SystemRequired"),
        lookup("businessunitid", "businessunit", "Business Unit", "Unternehmenseinheit"),
        *system_attrs(),
    ]
    ent = entity("role", "roles", 1036, "Security Role", "Sicherheitsrolle", "Role",
                 "roleid", "name", attrs, ownership="BusinessOwned")
    ent.many["roleprivileges_association"] = ManyToMany(
        "roleprivileges_association", "roleprivileges", "roleid", "privilegeid", "privilege")
    ent.many["systemuserroles_association"] = ManyToMany(
        "systemuserroles_association", "systemuserroles", "roleid", "systemuserid", "systemuser")
    return ent


def privilege() -> Entity:
    attrs = [
        s("name", 100, "Name", "Name"),
        a("accessright", "Integer", "Access Rights", "Zugriffsrechte"),
        a("canbeglobal", "Boolean", "Can Be Global", "Kann global sein"),
        a("canbelocal", "Boolean", "Can Be Local", "Kann lokal sein"),
        a("canbebasic", "Boolean", "Can Be Basic", "Kann Basis sein"),
        a("canbedeep", "Boolean", "Can Be Deep", "Kann tief sein"),
        *system_attrs(),
    ]
    return entity("privilege", "privileges", 1023, "Privilege", "Berechtigung", "Privilege",
                  "privilegeid", "name", attrs, ownership="None")
