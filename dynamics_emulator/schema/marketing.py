"""list, listmember, campaign, campaignactivity and the mwx_emailreaction activity."""

from __future__ import annotations

from dynamics_emulator.schema.model import (
    Attr,
    Entity,
    ManyToMany,
    Option,
    a,
    entity,
    lookup,
    memo,
    opts,
    owner_attrs,
    ro,
    s,
    state_attrs,
    system_attrs,
)

MAILWORX_CHANNEL = 100000000
MEMBER_TYPES = {1: "account", 2: "contact", 4: "lead"}


def _list_members(name: str, other: str) -> ManyToMany:
    return ManyToMany(name, "listmember", "listid", "entityid", other, other_type_col="entityid_t")


def marketing_list() -> Entity:
    states = state_attrs([(0, "Active", "Aktiv", 0), (1, "Inactive", "Inaktiv", 1)],
                         [(0, "Active", "Aktiv", 0), (1, "Inactive", "Inaktiv", 1)])
    attrs = [
        s("listname", 128, "Name", "Name", required="ApplicationRequired"),
        a("type", "Boolean", "Type", "Typ", update=False, required="SystemRequired",
          true_label=("Dynamic", "Dynamisch"), false_label=("Static", "Statisch")),
        a("createdfromcode", "Picklist", "Marketing List Member Type", "Mitgliedstyp",
          update=False, required="SystemRequired",
          options=opts((1, "Account", "Firma"), (2, "Contact", "Kontakt"), (4, "Lead", "Lead"))),
        ro("membercount", "Integer", "Members Count", "Anzahl der Mitglieder"),
        a("lockstatus", "Boolean", "Locked", "Gesperrt"),
        s("purpose", 512, "Purpose", "Zweck"),
        memo("query", 1048576, "Query", "Abfrage"),
        memo("description", 2000, "Description", "Beschreibung"),
        a("mwx_syncwithmailworx", "Boolean", "Sync with mailworx", "Mit mailworx synchronisieren",
          custom=True),
        s("mwx_mailworxgroupid", 100, "mailworx Group ID", "mailworx Gruppen-ID", custom=True),
        a("mwx_lastsyncon", "DateTime", "Last mailworx Sync", "Letzte mailworx-Synchronisierung",
          date_behavior="UserLocal", custom=True),
        *states, *owner_attrs(), *system_attrs(),
    ]
    ent = entity("list", "lists", 4300, "Marketing List", "Marketingliste", "List",
                 "listid", "listname", attrs)
    for name, other in (("listcontact_association", "contact"),
                        ("listaccount_association", "account"),
                        ("listlead_association", "lead")):
        ent.many[name] = _list_members(name, other)
    ent.many["campaignactivitylist_association"] = ManyToMany(
        "campaignactivitylist_association", "campaignactivityitem", "itemid",
        "campaignactivityid", "campaignactivity")
    return ent


def list_member() -> Entity:
    attrs: list[Attr] = [
        lookup("listid", "list", "List", "Liste", update=False, required="SystemRequired"),
        a("entityid", "Lookup", "Member", "Mitglied", targets=("account", "contact", "lead"),
          update=False, required="SystemRequired"),
        ro("entitytype", "EntityName", "Entity Type", "Entitätstyp"),
        *system_attrs(),
    ]
    return entity("listmember", "listmembers", 4301, "Marketing List Member",
                  "Marketinglistenmitglied", "ListMember", "listmemberid", "name",
                  attrs, ownership="None")


def campaign() -> Entity:
    states = state_attrs(
        [(0, "Active", "Aktiv", 0), (1, "Inactive", "Inaktiv", 6)],
        [(0, "Proposed", "Vorgeschlagen", 0), (1, "Ready To Launch", "Startbereit", 0),
         (2, "Launched", "Gestartet", 0), (3, "Completed", "Abgeschlossen", 0),
         (4, "Canceled", "Abgebrochen", 0), (5, "Suspended", "Unterbrochen", 0),
         (6, "Inactive", "Inaktiv", 1)],
    )
    attrs = [
        s("name", 128, "Name", "Name", required="ApplicationRequired"),
        s("codename", 32, "Campaign Code", "Kampagnencode"),
        memo("description", 2000, "Description", "Beschreibung"),
        a("actualstart", "DateTime", "Actual Start", "Tatsächlicher Beginn",
          date_behavior="DateOnly"),
        a("mwx_opens", "Integer", "mailworx Opens", "mailworx Öffnungen", custom=True),
        a("mwx_clicks", "Integer", "mailworx Clicks", "mailworx Klicks", custom=True),
        a("mwx_bounces", "Integer", "mailworx Bounces", "mailworx Bounces", custom=True),
        a("mwx_openrate", "Decimal", "mailworx Open Rate (%)", "mailworx Öffnungsrate (%)",
          custom=True),
        a("mwx_clickrate", "Decimal", "mailworx Click Rate (%)", "mailworx Klickrate (%)",
          custom=True),
        a("mwx_figuresmode", "Picklist", "mailworx Figures Mode", "mailworx Kennzahlenmodus",
          options=opts((100000000, "Absolute", "Absolut"), (100000001, "Relative", "Relativ")),
          custom=True),
        a("mwx_figuresupdatedon", "DateTime", "mailworx Figures Updated On",
          "mailworx Kennzahlen aktualisiert am", date_behavior="UserLocal", custom=True),
        *states, *owner_attrs(), *system_attrs(),
    ]
    ent = entity("campaign", "campaigns", 4400, "Campaign", "Kampagne", "Campaign",
                 "campaignid", "name", attrs)
    ent.many["campaignlist_association"] = ManyToMany(
        "campaignlist_association", "campaignitem", "campaignid", "entityid", "list")
    return ent


def campaign_activity() -> Entity:
    states = state_attrs(
        [(0, "Open", "Offen", 0), (1, "Closed", "Geschlossen", 2),
         (2, "Canceled", "Abgebrochen", 3)],
        [(0, "Proposed", "Vorgeschlagen", 0), (6, "In Progress", "In Bearbeitung", 0),
         (4, "Pending", "Ausstehend", 0), (5, "System Aborted", "Vom System abgebrochen", 0),
         (2, "Completed", "Abgeschlossen", 1), (3, "Canceled", "Abgebrochen", 2)],
    )
    channels = (*opts((1, "Phone", "Telefon"), (2, "Appointment", "Termin"), (3, "Letter", "Brief"),
                      (4, "Letter via Mail Merge", "Brief über Serienbrief"), (5, "Fax", "Fax"),
                      (6, "Fax via Mail Merge", "Fax über Serienbrief"), (7, "Email", "E-Mail"),
                      (8, "Email via Mail Merge", "E-Mail über Serienbrief"),
                      (9, "Other", "Andere")),
                Option(MAILWORX_CHANNEL, "mailworx campaign", "mailworx-Kampagne"))
    attrs = [
        s("subject", 200, "Subject", "Betreff", required="ApplicationRequired"),
        a("regardingobjectid", "Lookup", "Parent Campaign", "Übergeordnete Kampagne",
          targets=("campaign",)),
        a("channeltypecode", "Picklist", "Channel", "Kanal", options=channels),
        a("scheduledstart", "DateTime", "Scheduled Start", "Geplanter Beginn",
          date_behavior="UserLocal"),
        a("scheduledend", "DateTime", "Scheduled End", "Geplantes Ende", date_behavior="UserLocal"),
        memo("description", 2000, "Description", "Beschreibung"),
        a("mwx_distributionrequested", "Boolean", "Distribute through mailworx",
          "Über mailworx verteilen", custom=True),
        a("mwx_takenoveron", "DateTime", "Taken over by mailworx on", "Von mailworx übernommen am",
          date_behavior="UserLocal", custom=True),
        s("mwx_mailworxcampaignid", 100, "mailworx Campaign ID", "mailworx Kampagnen-ID",
          custom=True),
        ro("activitytypecode", "EntityName", "Activity Type", "Aktivitätstyp"),
        *states, *owner_attrs(), *system_attrs(),
    ]
    ent = entity("campaignactivity", "campaignactivities", 4402, "Campaign Activity",
                 "Kampagnenaktivität", "CampaignActivity", "activityid", "subject", attrs,
                 is_activity=True)
    ent.many["campaignactivitylist_association"] = ManyToMany(
        "campaignactivitylist_association", "campaignactivityitem", "campaignactivityid",
        "itemid", "list")
    return ent


def email_reaction() -> Entity:
    states = state_attrs(
        [(0, "Open", "Offen", 1), (1, "Completed", "Abgeschlossen", 2),
         (2, "Canceled", "Abgebrochen", 3)],
        [(1, "Open", "Offen", 0), (2, "Completed", "Abgeschlossen", 1),
         (3, "Canceled", "Abgebrochen", 2)],
    )
    attrs = [
        s("subject", 200, "Subject", "Betreff", required="ApplicationRequired"),
        a("regardingobjectid", "Lookup", "Regarding", "Bezug",
          targets=("contact", "account", "lead")),
        lookup("mwx_campaignid", "campaign", "Campaign", "Kampagne", custom=True),
        lookup("mwx_campaignactivityid", "campaignactivity", "Campaign Activity",
               "Kampagnenaktivität", custom=True),
        s("mwx_reactionkey", 100, "Reaction Key", "Reaktionsschlüssel", custom=True,
          required="SystemRequired"),
        s("mwx_emailaddress", 100, "Email Address", "E-Mail-Adresse", custom=True),
        a("mwx_opens", "Integer", "Opens", "Öffnungen", custom=True),
        a("mwx_clicks", "Integer", "Clicks", "Klicks", custom=True),
        a("mwx_bounces", "Integer", "Bounces", "Bounces", custom=True),
        a("mwx_bouncetype", "Picklist", "Bounce Type", "Bounce-Typ", custom=True,
          options=opts((100000000, "Soft", "Soft"), (100000001, "Hard", "Hard"))),
        a("mwx_firstoccurredon", "DateTime", "First Occurred On", "Erstmals aufgetreten am",
          date_behavior="UserLocal", custom=True),
        a("mwx_lastoccurredon", "DateTime", "Last Occurred On", "Zuletzt aufgetreten am",
          date_behavior="UserLocal", custom=True),
        memo("mwx_clickedurls", 100000, "Clicked URLs", "Geklickte URLs", custom=True),
        memo("description", 2000, "Description", "Beschreibung"),
        ro("activitytypecode", "EntityName", "Activity Type", "Aktivitätstyp"),
        *states, *owner_attrs(), *system_attrs(),
    ]
    return entity("mwx_emailreaction", "mwx_emailreactions", 10010, "Email Reaction",
                  "E-Mail-Reaktion", "mwx_emailreaction", "activityid", "subject", attrs,
                  is_activity=True, custom=True,
                  keys={"mwx_reactionkey": ("mwx_reactionkey",)})
