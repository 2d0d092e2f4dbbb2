"""Customer Insights – Journeys consent tables: contact point consent, purpose, topic.

Only organisations with the Journeys solution have them (``Org.journeys``). Columns,
option values and navigation names follow Microsoft's table reference, see
docs/crm-solution.md §7; what the emulator leaves out is listed there.
"""

from __future__ import annotations

from dynamics_emulator.schema.model import (
    ACTIVE_INACTIVE,
    Attr,
    Entity,
    a,
    entity,
    lookup,
    opts,
    owner_attrs,
    s,
    system_attrs,
)

CONSENT = "msdynmkt_contactpointconsent4"
PURPOSE = "msdynmkt_purpose"
TOPIC = "msdynmkt_topic"
TABLES = (CONSENT, PURPOSE, TOPIC)

# Global choices shared by the columns below (values from the table reference).
CONSENT_VALUES = opts((534120000, "Not Set", "Nicht festgelegt"),
                      (534120001, "Opted In", "Eingewilligt"),
                      (534120002, "Opted Out", "Abgemeldet"))
CHANNELS = opts((534120000, "Email", "E-Mail"), (534120001, "Text Message", "SMS"),
                (534120002, "Custom", "Benutzerdefiniert"), (534120003, "Voice", "Sprache"))
SOURCES = opts((534120000, "Internal", "Intern"),
               (534120001, "Preference page", "Einstellungsseite"),
               (534120002, "Text message", "SMS"), (534120003, "Loaded", "Geladen"),
               (534120004, "Preference Center", "Einstellungscenter"),
               (534120005, "Realtime Marketing Form", "Echtzeitmarketing-Formular"),
               (534120006, "Subscription Center", "Abonnementcenter"),
               (534120007, "Email - list-unsubscribe", "E-Mail – List-Unsubscribe"))
REASONS = opts((534119999, "No reasons", "Keine Gründe"),
               (534120000, "Opt-in - Advertisement", "Einwilligung – Werbung"),
               (534120001, "Opt-in - Landing page", "Einwilligung – Landingpage"),
               (534120002, "Opt-in - Events", "Einwilligung – Veranstaltungen"),
               (534120003, "Opt-out - Content was irrelevant", "Abmeldung – Inhalt irrelevant"),
               (534120004, "Opt-out - Received too frequently", "Abmeldung – zu häufig"),
               (534120005, "Opt-out - Didn’t recall signing up",
                "Abmeldung – keine Erinnerung an Anmeldung"),
               (534120006, "Opt-out - Privacy concerns", "Abmeldung – Datenschutzbedenken"),
               (534120007, "Opt-out - One-click unsubscribe", "Abmeldung – Ein-Klick-Abmeldung"))
CONSENT_TYPES = opts((534120000, "Purpose", "Zweck"), (534120001, "Topic", "Thema"))
PURPOSE_TYPES = opts((534120000, "Commercial Communication", "Kommerzielle Kommunikation"),
                     (534120001, "Transactional Communication", "Transaktionale Kommunikation"),
                     (534120002, "Tracking", "Nachverfolgung"))
ENFORCEMENT = opts((534120000, "Restrictive", "Restriktiv"),
                   (534120001, "Non-Restrictive", "Nicht restriktiv"),
                   (534120002, "Disabled", "Deaktiviert"))


def contact_point_consent() -> Entity:
    attrs: list[Attr] = [
        s("msdynmkt_contactpointvalue", 400, "Contact point", "Kontaktpunkt", custom=True,
          required="ApplicationRequired"),
        a("msdynmkt_contactpointtype", "Picklist", "Channel", "Kanal", options=CHANNELS,
          custom=True, required="ApplicationRequired"),
        a("msdynmkt_value", "Picklist", "Consent status", "Einwilligungsstatus",
          options=CONSENT_VALUES, custom=True, required="ApplicationRequired"),
        a("msdynmkt_contactpointconsenttype", "Picklist", "Consent type", "Einwilligungstyp",
          options=CONSENT_TYPES, custom=True),
        a("msdynmkt_source", "Picklist", "Source", "Quelle", options=SOURCES, custom=True,
          required="ApplicationRequired"),
        a("msdynmkt_logicalreason", "Picklist", "Reason", "Grund", options=REASONS,
          custom=True, required="ApplicationRequired"),
        s("msdynmkt_reason", 500, "Reason Description", "Grundbeschreibung", custom=True),
        s("msdynmkt_modifiedonbehalf", 500, "Who requested the change",
          "Wer die Änderung angefordert hat", custom=True),
        lookup("msdynmkt_purposeid", PURPOSE, "Purpose", "Zweck", custom=True,
               required="ApplicationRequired", nav="msdynmkt_purposeId"),
        lookup("msdynmkt_topicid", TOPIC, "Topic", "Thema", custom=True, nav="msdynmkt_topicId"),
        a("msdynmkt_uionly_value_tracking", "Picklist", "Tracking (used in ui only)",
          "Nachverfolgung (nur in der Oberfläche)", options=CONSENT_VALUES, custom=True),
        a("msdynmkt_migrationtimestamp", "DateTime", "Migration timestamp",
          "Migrationszeitstempel", date_behavior="TimeZoneIndependent", custom=True),
        *ACTIVE_INACTIVE, *owner_attrs(), *system_attrs(),
    ]
    return entity(CONSENT, CONSENT + "s", 10400, "Contact Point Consent",
                  "Kontaktpunkteinwilligung", CONSENT, "msdynmkt_contactpointconsent4id",
                  "msdynmkt_contactpointvalue", attrs, custom=True)


def purpose() -> Entity:
    attrs: list[Attr] = [
        s("msdynmkt_name", 100, "Name", "Name", custom=True, required="ApplicationRequired"),
        s("msdynmkt_description", 100, "Description", "Beschreibung", custom=True),
        a("msdynmkt_type", "Picklist", "Type", "Typ", options=PURPOSE_TYPES, custom=True,
          required="ApplicationRequired"),
        a("msdynmkt_enforcementmodel", "Picklist", "Email Enforcement Model",
          "Durchsetzungsmodell E-Mail", options=ENFORCEMENT, custom=True,
          required="ApplicationRequired"),
        a("msdynmkt_topiccount", "Integer", "Topics", "Themen", custom=True),
        *ACTIVE_INACTIVE, *owner_attrs(), *system_attrs(),
    ]
    return entity(PURPOSE, PURPOSE + "s", 10401, "Purpose", "Zweck", PURPOSE,
                  "msdynmkt_purposeid", "msdynmkt_name", attrs, custom=True)


def topic() -> Entity:
    attrs: list[Attr] = [
        s("msdynmkt_name", 100, "Name", "Name", custom=True, required="ApplicationRequired"),
        lookup("msdynmkt_purposeid", PURPOSE, "Purpose", "Zweck", custom=True,
               nav="msdynmkt_purposeId"),
        *ACTIVE_INACTIVE, *owner_attrs(), *system_attrs(),
    ]
    return entity(TOPIC, TOPIC + "s", 10402, "Topic", "Thema", TOPIC,
                  "msdynmkt_topicid", "msdynmkt_name", attrs, custom=True)


def journeys_entities() -> list[Entity]:
    return [contact_point_consent(), purpose(), topic()]
