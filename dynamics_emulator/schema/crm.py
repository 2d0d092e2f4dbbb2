"""contact, account and lead, with the mwx_ columns docs/crm-solution.md adds."""

from __future__ import annotations

from dynamics_emulator.schema.model import (
    ACTIVE_INACTIVE,
    Attr,
    Entity,
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

SALUTATION = opts((100000000, "Mr", "Herr"), (100000001, "Ms", "Frau"),
                  (100000002, "Dr", "Dr."), (100000003, "Diverse", "Divers"))
TOPICS = opts((100000000, "Newsletter", "Newsletter"), (100000001, "Events", "Veranstaltungen"),
              (100000002, "Products", "Produkte"), (100000003, "Offers", "Angebote"))


def _email_attrs() -> list[Attr]:
    return [
        s("emailaddress1", 100, "Email", "E-Mail"),
        s("emailaddress2", 100, "Email Address 2", "E-Mail-Adresse 2"),
        s("emailaddress3", 100, "Email Address 3", "E-Mail-Adresse 3"),
        a("donotbulkemail", "Boolean", "Do not allow Bulk Emails", "Keine Massen-E-Mails zulassen",
          true_label=("Do Not Allow", "Nicht zulassen"), false_label=("Allow", "Zulassen")),
        a("donotemail", "Boolean", "Do not allow Emails", "Keine E-Mails zulassen",
          true_label=("Do Not Allow", "Nicht zulassen"), false_label=("Allow", "Zulassen")),
        s("telephone1", 50, "Business Phone", "Telefon (geschäftlich)"),
        s("address1_line1", 250, "Address 1: Street 1", "Adresse 1: Straße 1"),
        s("address1_city", 80, "Address 1: City", "Adresse 1: Ort"),
        s("address1_postalcode", 20, "Address 1: ZIP/Postal Code", "Adresse 1: Postleitzahl"),
        s("address1_country", 80, "Address 1: Country/Region", "Adresse 1: Land/Region"),
        memo("description", 2000, "Description", "Beschreibung"),
    ]


def contact() -> Entity:
    attrs = [
        s("firstname", 50, "First Name", "Vorname", required="Recommended"),
        s("middlename", 50, "Middle Name", "Zweiter Vorname"),
        s("lastname", 50, "Last Name", "Nachname", required="ApplicationRequired"),
        ro("fullname", "String", "Full Name", "Vollständiger Name", max_length=160),
        s("jobtitle", 100, "Job Title", "Position"),
        a("birthdate", "DateTime", "Birthday", "Geburtstag", date_behavior="DateOnly"),
        a("gendercode", "Picklist", "Gender", "Geschlecht",
          options=opts((1, "Male", "Männlich"), (2, "Female", "Weiblich"))),
        a("preferredcontactmethodcode", "Picklist", "Preferred Method of Contact",
          "Bevorzugte Kontaktmethode",
          options=opts((1, "Any", "Beliebig"), (2, "Email", "E-Mail"), (3, "Phone", "Telefon"),
                       (4, "Fax", "Fax"), (5, "Mail", "Post"))),
        a("parentcustomerid", "Customer", "Company Name", "Firmenname",
          targets=("account", "contact")),
        a("numberofchildren", "Integer", "No. of Children", "Anzahl der Kinder"),
        a("creditlimit", "Money", "Credit Limit", "Kreditlimit"),
        a("mwx_salutation", "Picklist", "Salutation (mailworx)", "Anrede (mailworx)",
          options=SALUTATION, custom=True),
        a("mwx_topics", "Virtual", "Topics of Interest", "Interessensgebiete",
          options=TOPICS, custom=True),
        a("mwx_score", "Decimal", "Engagement Score", "Engagement-Wert", custom=True),
        a("mwx_consenton", "DateTime", "Newsletter Consent On", "Newsletter-Einwilligung am",
          date_behavior="TimeZoneIndependent", custom=True),
        s("mwx_subscriberid", 100, "mailworx Subscriber ID", "mailworx Abonnenten-ID",
          custom=True, update=True),
        *_email_attrs(), *ACTIVE_INACTIVE, *owner_attrs(), *system_attrs(),
    ]
    return entity("contact", "contacts", 2, "Contact", "Kontakt", "Contact",
                  "contactid", "fullname", attrs)


def account() -> Entity:
    attrs = [
        s("name", 160, "Account Name", "Firmenname", required="ApplicationRequired"),
        s("accountnumber", 20, "Account Number", "Kontonummer"),
        s("websiteurl", 200, "Website", "Website"),
        s("fax", 50, "Fax", "Fax"),
        a("numberofemployees", "Integer", "Number of Employees", "Anzahl der Mitarbeiter"),
        a("revenue", "Money", "Annual Revenue", "Jahresumsatz"),
        a("industrycode", "Picklist", "Industry", "Branche",
          options=opts((1, "Accounting", "Buchhaltung"), (7, "Consulting", "Beratung"),
                       (12, "Financial", "Finanzen"), (33, "Retail", "Einzelhandel"),
                       (19, "Manufacturing", "Fertigung"))),
        lookup("primarycontactid", "contact", "Primary Contact", "Primärer Kontakt"),
        lookup("parentaccountid", "account", "Parent Account", "Übergeordnete Firma"),
        s("mwx_subscriberid", 100, "mailworx Subscriber ID", "mailworx Abonnenten-ID",
          custom=True),
        *_email_attrs(), *ACTIVE_INACTIVE, *owner_attrs(), *system_attrs(),
    ]
    return entity("account", "accounts", 1, "Account", "Firma", "Account",
                  "accountid", "name", attrs)


def lead() -> Entity:
    states = state_attrs(
        [(0, "Open", "Offen", 1), (1, "Qualified", "Qualifiziert", 3),
         (2, "Disqualified", "Disqualifiziert", 4)],
        [(1, "New", "Neu", 0), (2, "Contacted", "Kontaktiert", 0),
         (3, "Qualified", "Qualifiziert", 1), (4, "Lost", "Verloren", 2),
         (5, "Cannot Contact", "Kontakt nicht möglich", 2),
         (6, "No Longer Interested", "Kein Interesse mehr", 2), (7, "Canceled", "Storniert", 2)],
    )
    attrs = [
        s("subject", 300, "Topic", "Thema", required="ApplicationRequired"),
        s("firstname", 50, "First Name", "Vorname"),
        s("lastname", 50, "Last Name", "Nachname", required="ApplicationRequired"),
        ro("fullname", "String", "Name", "Name", max_length=160),
        s("companyname", 100, "Company Name", "Firmenname"),
        s("jobtitle", 100, "Job Title", "Position"),
        a("leadsourcecode", "Picklist", "Lead Source", "Leadquelle",
          options=opts((1, "Advertisement", "Werbung"), (3, "Employee Referral", "Empfehlung"),
                       (8, "Web", "Web"), (10, "Other", "Sonstiges"))),
        lookup("parentaccountid", "account", "Account", "Firma"),
        lookup("parentcontactid", "contact", "Contact", "Kontakt"),
        s("mwx_subscriberid", 100, "mailworx Subscriber ID", "mailworx Abonnenten-ID",
          custom=True),
        *_email_attrs(), *states, *owner_attrs(), *system_attrs(),
    ]
    return entity("lead", "leads", 4, "Lead", "Lead", "Lead", "leadid", "fullname", attrs)
