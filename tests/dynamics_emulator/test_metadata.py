"""EntityDefinitions, attributes, casts with option sets, labels in 1033/1031."""

from __future__ import annotations

import requests

MD = "EntityDefinitions"


def test_entity_definition_with_select(api: requests.Session, base: str) -> None:
    resp = api.get(f"{base}{MD}(LogicalName='contact')?$select=LogicalName,EntitySetName,"
                   "PrimaryIdAttribute,PrimaryNameAttribute,ObjectTypeCode,ChangeTrackingEnabled,"
                   "DisplayName", timeout=10)
    body = resp.json()
    assert body["@odata.context"] == f"{base}$metadata#{MD}/$entity"
    assert (body["EntitySetName"], body["PrimaryIdAttribute"], body["PrimaryNameAttribute"],
            body["ObjectTypeCode"], body["ChangeTrackingEnabled"]) == \
        ("contacts", "contactid", "fullname", 2, True)
    labels = {lbl["LanguageCode"]: lbl["Label"] for lbl in body["DisplayName"]["LocalizedLabels"]}
    assert labels == {1033: "Contact", 1031: "Kontakt"}
    assert body["DisplayName"]["UserLocalizedLabel"]["LanguageCode"] == 1033
    assert "IsActivity" not in body and "MetadataId" in body


def test_entity_definitions_filter(api: requests.Session, base: str) -> None:
    values = api.get(f"{base}{MD}?$select=LogicalName&$filter=IsCustomEntity eq true",
                     timeout=10).json()["value"]
    # contoso has Customer Insights – Journeys installed: its tables are solution tables too.
    assert [v["LogicalName"] for v in values] == [
        "mwx_emailreaction", "msdynmkt_contactpointconsent4", "msdynmkt_purpose",
        "msdynmkt_topic"]


def test_attributes_types_and_properties(api: requests.Session, base: str) -> None:
    values = api.get(f"{base}{MD}(LogicalName='contact')/Attributes", timeout=10).json()["value"]
    by_name = {v["LogicalName"]: v for v in values}
    assert by_name["emailaddress1"]["AttributeTypeName"] == {"Value": "StringType"}
    assert by_name["emailaddress1"]["MaxLength"] == 100
    assert by_name["mwx_topics"]["AttributeType"] == "Virtual"
    assert by_name["mwx_topics"]["AttributeTypeName"] == {"Value": "MultiSelectPicklistType"}
    assert by_name["parentcustomerid"]["AttributeTypeName"] == {"Value": "CustomerType"}
    assert by_name["parentcustomerid"]["Targets"] == ["account", "contact"]
    assert by_name["ownerid"]["AttributeTypeName"] == {"Value": "OwnerType"}
    assert by_name["birthdate"]["DateTimeBehavior"] == {"Value": "DateOnly"}
    assert by_name["mwx_consenton"]["DateTimeBehavior"] == {"Value": "TimeZoneIndependent"}
    assert by_name["createdon"]["IsValidForCreate"] is False
    assert by_name["mwx_salutation"]["IsCustomAttribute"] is True
    assert by_name["lastname"]["RequiredLevel"]["Value"] == "ApplicationRequired"
    kinds = {v["AttributeTypeName"]["Value"] for v in values}
    assert {"IntegerType", "DecimalType", "MoneyType", "BooleanType", "PicklistType",
            "StateType", "StatusType", "UniqueidentifierType", "MemoType", "LookupType",
            "DateTimeType"} <= kinds
    labels = {lbl["LanguageCode"]: lbl["Label"]
              for lbl in by_name["firstname"]["DisplayName"]["LocalizedLabels"]}
    assert labels == {1033: "First Name", 1031: "Vorname"}


def test_picklist_cast_with_option_set(api: requests.Session, base: str) -> None:
    url = (f"{base}{MD}(LogicalName='contact')/Attributes/Microsoft.Dynamics.CRM."
           "PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet")
    values = api.get(url, timeout=10).json()["value"]
    salutation = next(v for v in values if v["LogicalName"] == "mwx_salutation")
    options = {o["Value"]: {lbl["LanguageCode"]: lbl["Label"]
                            for lbl in o["Label"]["LocalizedLabels"]}
               for o in salutation["OptionSet"]["Options"]}
    assert options[100000001] == {1033: "Ms", 1031: "Frau"}
    assert all(v["@odata.type"] == "#Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
               for v in values)
    multi = api.get(f"{base}{MD}(LogicalName='contact')/Attributes/Microsoft.Dynamics.CRM."
                    "MultiSelectPicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet",
                    timeout=10).json()["value"]
    assert [m["LogicalName"] for m in multi] == ["mwx_topics"]
    assert len(multi[0]["OptionSet"]["Options"]) == 4


def test_lookup_cast_and_single_attribute(api: requests.Session, base: str) -> None:
    lookups = api.get(f"{base}{MD}(LogicalName='contact')/Attributes/Microsoft.Dynamics.CRM."
                      "LookupAttributeMetadata?$select=LogicalName,Targets", timeout=10).json()
    assert {"parentcustomerid", "ownerid"} <= {v["LogicalName"] for v in lookups["value"]}
    one = api.get(f"{base}{MD}(LogicalName='campaignactivity')/Attributes(LogicalName="
                  "'channeltypecode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
                  "?$select=LogicalName&$expand=OptionSet", timeout=10).json()
    values = {o["Value"] for o in one["OptionSet"]["Options"]}
    assert 100000000 in values and 7 in values
    single = api.get(f"{base}{MD}(LogicalName='list')/Attributes(LogicalName='listname')",
                     timeout=10).json()
    assert single["MaxLength"] == 128 and single["AttributeType"] == "String"


def test_unknown_entity_definition_is_404(api: requests.Session, base: str) -> None:
    assert api.get(f"{base}{MD}(LogicalName='nope')", timeout=10).status_code == 404


def test_relationships_name_the_bind_properties_and_keys(api: requests.Session,
                                                         base: str) -> None:
    rels = api.get(f"{base}{MD}(LogicalName='mwx_emailreaction')/ManyToOneRelationships"
                   "?$select=ReferencingEntityNavigationPropertyName,ReferencedEntity",
                   timeout=10).json()["value"]
    navs = {r["ReferencingEntityNavigationPropertyName"]: r["ReferencedEntity"] for r in rels}
    assert navs["regardingobjectid_contact_mwx_emailreaction"] == "contact"
    assert navs["mwx_campaignid"] == "campaign"
    keys = api.get(f"{base}{MD}(LogicalName='mwx_emailreaction')/Keys", timeout=10).json()
    assert keys["value"][0]["KeyAttributes"] == ["mwx_reactionkey"]


def test_cast_with_select_keeps_the_expanded_option_set(api, base) -> None:
    # Part-1 report: $select on an attribute cast dropped the expanded OptionSet.
    url = (base + "EntityDefinitions(LogicalName='contact')/Attributes/Microsoft.Dynamics.CRM."
           "PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet")
    items = api.get(url).json()["value"]
    gender = next(i for i in items if i["LogicalName"] == "gendercode")
    assert set(gender) == {"@odata.type", "MetadataId", "LogicalName", "OptionSet"}
    assert [o["Value"] for o in gender["OptionSet"]["Options"]] == [1, 2]
    one = api.get(base + "EntityDefinitions(LogicalName='contact')/Attributes(LogicalName="
                         "'gendercode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
                         "?$select=LogicalName&$expand=OptionSet($select=Options)").json()
    assert one["OptionSet"]["Options"][0]["Value"] == 1
