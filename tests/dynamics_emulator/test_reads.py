"""Queries: $select/$filter/$orderby/$top/$expand/$count, paging, annotations, conditional GET."""

from __future__ import annotations

from urllib.parse import quote

import requests

ANN = {"Prefer": 'odata.include-annotations="*"'}


def _get(api: requests.Session, url: str, **headers: str) -> requests.Response:
    return api.get(url, headers=headers, timeout=10)


def test_select_filter_returns_only_requested_columns_plus_key(api: requests.Session,
                                                               base: str) -> None:
    resp = _get(api, base + "contacts?$select=fullname,emailaddress1&$filter=statecode eq 0&$top=3")
    body = resp.json()
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json; odata.metadata=minimal")
    assert body["@odata.context"] == base + "$metadata#contacts(fullname,emailaddress1)"
    assert len(body["value"]) == 3
    first = body["value"][0]
    assert set(first) == {"@odata.etag", "fullname", "emailaddress1", "contactid"}
    assert first["@odata.etag"].startswith('W/"')


def test_email_equality_is_case_insensitive(api: requests.Session, base: str) -> None:
    url = (base + "contacts?$select=emailaddress1&$filter="
           "emailaddress1 eq 'OFFICE@Shared-Everywhere.example'")
    assert [v["emailaddress1"] for v in _get(api, url).json()["value"]] == \
        ["office@shared-everywhere.example"]


def test_in_function_over_shared_address_finds_each_type(api: requests.Session,
                                                         base: str) -> None:
    flt = ("Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',PropertyValues="
           "['office@shared-everywhere.example','info@account-and-lead.example'])")
    counts = {s: len(_get(api, f"{base}{s}?$select=emailaddress1&$filter={quote(flt)}")
                     .json()["value"]) for s in ("contacts", "accounts", "leads")}
    assert counts == {"contacts": 1, "accounts": 2, "leads": 1}


def test_in_with_aliases_and_json_array_with_apostrophe(api: requests.Session, base: str) -> None:
    url = (base + "contacts?$select=lastname&$filter=Microsoft.Dynamics.CRM.In(PropertyName=@p1,"
           "PropertyValues=@p2)&@p1='lastname'&@p2=" + quote('["O\'Brien","Zzz"]'))
    values = _get(api, url).json()["value"]
    assert values and all(v["lastname"] == "O'Brien" for v in values)


def test_notin_between_onorafter_and_string_functions(api: requests.Session, base: str) -> None:
    all_count = len(_get(api, base + "leads?$select=leadid").json()["value"])
    notin = _get(api, base + "leads?$select=statecode&$filter=Microsoft.Dynamics.CRM.NotIn("
                 "PropertyName='statecode',PropertyValues=['1','2'])").json()["value"]
    assert 0 < len(notin) < all_count and {v["statecode"] for v in notin} == {0}
    between = _get(api, base + "accounts?$select=numberofemployees&$filter=Microsoft.Dynamics.CRM."
                   "Between(PropertyName='numberofemployees',PropertyValues=['100','200'])").json()
    assert all(100 <= v["numberofemployees"] <= 200 for v in between["value"])
    after = _get(api, base + "contacts?$select=modifiedon&$filter=Microsoft.Dynamics.CRM.OnOrAfter("
                 "PropertyName='modifiedon',PropertyValue='2024-01-08')").json()["value"]
    assert len(after) == 300
    starts = _get(api, base + "contacts?$select=lastname&$filter=startswith(lastname,'mü') and "
                  "not contains(lastname,'x')").json()["value"]
    assert starts and all(v["lastname"].startswith("Mü") for v in starts)


def test_null_guid_date_and_navigation_filters(api: requests.Session, base: str) -> None:
    acc = _get(api, base + "accounts?$select=name&$top=1&$orderby=name asc").json()["value"][0]
    by_guid = _get(api, f"{base}contacts?$select=_parentcustomerid_value&$filter="
                   f"_parentcustomerid_value eq {acc['accountid']}").json()["value"]
    assert all(v["_parentcustomerid_value"] == acc["accountid"] for v in by_guid)
    by_name = _get(api, base + "contacts?$select=contactid&$filter=parentcustomerid_account/name "
                   f"eq '{quote(acc['name'])}'").json()["value"]
    assert len(by_name) == len(by_guid)
    no_mail = _get(api, base + "contacts?$select=emailaddress2&$filter=emailaddress1 eq null")
    assert [v["emailaddress2"] for v in no_mail.json()["value"]] == ["second.only@example.at"]
    born = _get(api, base + "contacts?$select=birthdate&$filter=birthdate ge 2000-01-01").json()
    assert born["value"] and all(v["birthdate"] >= "2000-01-01" for v in born["value"])


def test_bad_filter_and_unknown_property_are_400(api: requests.Session, base: str) -> None:
    resp = _get(api, base + "contacts?$filter=lastname eq ")
    assert resp.status_code == 400 and "Syntax error" in resp.json()["error"]["message"]
    resp = _get(api, base + "contacts?$select=nosuchfield")
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == (
        "Could not find a property named 'nosuchfield' on type 'Microsoft.Dynamics.CRM.contact'.")
    resp = _get(api, base + "contacts?$filter=not Microsoft.Dynamics.CRM.In(PropertyName="
                "'lastname',PropertyValues=['a'])")
    assert resp.status_code == 400


def test_skip_is_not_supported(api: requests.Session, base: str) -> None:
    resp = _get(api, base + "contacts?$skip=10")
    assert resp.status_code == 400
    assert "$skip" in resp.json()["error"]["message"]


def test_orderby_and_top(api: requests.Session, base: str) -> None:
    values = _get(api, base + "accounts?$select=numberofemployees&$orderby=numberofemployees desc"
                  "&$top=5").json()["value"]
    counts = [v["numberofemployees"] for v in values]
    assert counts == sorted(counts, reverse=True) and len(counts) == 5


def test_paging_with_maxpagesize_walks_all_rows_without_repeats(api: requests.Session,
                                                               base: str) -> None:
    """Microsoft's paging example: Prefer odata.maxpagesize, follow @odata.nextLink."""
    url = base + "contacts?$select=fullname"
    seen: list[str] = []
    pages = 0
    while url:
        resp = _get(api, url, Prefer="odata.maxpagesize=70")
        assert resp.headers["Preference-Applied"] == "odata.maxpagesize=70"
        body = resp.json()
        seen += [v["contactid"] for v in body["value"]]
        url = body.get("@odata.nextLink")
        if url:
            assert "$skiptoken=" in url and "pagenumber" in requests.utils.unquote(url)
        pages += 1
    assert pages == 5 and len(seen) == 300 == len(set(seen))


def test_paging_with_orderby(api: requests.Session, base: str) -> None:
    url = base + "leads?$select=lastname&$orderby=lastname"
    names: list[str] = []
    while url:
        body = _get(api, url, Prefer="odata.maxpagesize=50").json()
        names += [v["lastname"] for v in body["value"]]
        url = body.get("@odata.nextLink")
    assert len(names) == 120 and names == sorted(names, key=str.lower)


def test_count_true_and_count_segment(api: requests.Session, base: str) -> None:
    body = _get(api, base + "accounts?$select=name&$count=true&$filter=statecode eq 1").json()
    assert body["@odata.count"] == len(body["value"]) == 1
    resp = _get(api, base + "contacts/$count")
    assert resp.headers["Content-Type"].startswith("text/plain") and resp.text == "300"


def test_expand_lookup_with_nested_select(api: requests.Session, base: str) -> None:
    body = _get(api, base + "contacts?$select=fullname&$filter=_parentcustomerid_value ne null"
                "&$top=2&$expand=parentcustomerid_account($select=name),ownerid($select=fullname)"
                ).json()
    item = body["value"][0]
    assert set(item["parentcustomerid_account"]) == {"@odata.etag", "name", "accountid"}
    assert "fullname" in item["ownerid"]


def test_annotations_formatted_values_and_lookup_logical_name(api: requests.Session,
                                                               base: str) -> None:
    resp = _get(api, base + "contacts?$select=statecode,donotbulkemail,_ownerid_value,"
                "mwx_topics,birthdate&$filter=mwx_topics ne null&$top=1", **ANN)
    assert resp.headers["Preference-Applied"] == 'odata.include-annotations="*"'
    item = resp.json()["value"][0]
    assert item["statecode@OData.Community.Display.V1.FormattedValue"] == "Active"
    assert item["donotbulkemail@OData.Community.Display.V1.FormattedValue"] == "Allow"
    assert item["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "systemuser"
    assert item["_ownerid_value@OData.Community.Display.V1.FormattedValue"]
    assert "mwx_topics@OData.Community.Display.V1.FormattedValue" in item
    plain = _get(api, base + "contacts?$select=statecode&$top=1").json()["value"][0]
    assert not any("@OData.Community" in k for k in plain)


def test_single_record_etag_and_conditional_get(api: requests.Session, base: str) -> None:
    cid = _get(api, base + "contacts?$select=contactid&$top=1").json()["value"][0]["contactid"]
    url = f"{base}contacts({cid})?$select=fullname"
    first = _get(api, url)
    assert first.json()["@odata.context"] == base + "$metadata#contacts(fullname)/$entity"
    tag = first.headers["ETag"]
    assert tag == first.json()["@odata.etag"]
    assert _get(api, url, **{"If-None-Match": tag}).status_code == 304
    # Never 304 with annotations or $expand (docs/dataverse-webapi.md §Conditional requests).
    assert _get(api, url, **{"If-None-Match": tag}, **ANN).status_code == 200
    assert _get(api, url + "&$expand=ownerid($select=fullname)",
                **{"If-None-Match": tag}).status_code == 200
    api.patch(f"{base}contacts({cid})", json={"jobtitle": "CEO"}, timeout=10)
    assert _get(api, url, **{"If-None-Match": tag}).status_code == 200


def test_single_property_and_missing_record(api: requests.Session, base: str) -> None:
    acc = _get(api, base + "accounts?$select=name&$top=1").json()["value"][0]
    prop = _get(api, f"{base}accounts({acc['accountid']})/name").json()
    assert prop == {"@odata.context": f"{base}$metadata#accounts({acc['accountid']})/name",
                    "value": acc["name"]}
    missing = "00000000-0000-0000-0000-000000000001"
    resp = _get(api, f"{base}accounts({missing})")
    assert resp.status_code == 404
    assert resp.json() == {"error": {"code": "0x80040217",
                                     "message": f"account With Id = {missing} Does Not Exist"}}


def test_service_document_lists_entity_sets(api: requests.Session, base: str) -> None:
    body = _get(api, base).json()
    names = {v["name"] for v in body["value"]}
    assert {"contacts", "accounts", "leads", "lists", "mwx_emailreactions"} <= names


def test_documented_client_errors(api: requests.Session, base: str) -> None:
    """Shapes from Microsoft's 'Troubleshoot Web API client errors' page."""
    wrong_set = _get(api, base + "Account")
    assert wrong_set.status_code == 404
    assert wrong_set.json()["error"] == {"code": "0x8006088a",
                                         "message": "Resource not found for the segment 'Account'."}
    wrong_case = _get(api, base + "accounts?$select=Name")
    assert wrong_case.status_code == 400 and wrong_case.json()["error"]["code"] == "0x0"
    post_function = api.post(base + "WhoAmI", timeout=10)
    assert post_function.status_code == 404
    assert post_function.json()["error"] == {
        "code": "", "message": f"No HTTP resource was found that matches the request URI "
                               f"'{base}WhoAmI'."}


def test_in_values_are_a_json_array(api: requests.Session, base: str) -> None:
    """docs/dataverse-webapi.md §Filter: JSON strings; single quotes only without apostrophes."""
    assert api.post(base + "contacts", json={"lastname": "O'Brian"}, timeout=10).ok

    def names(values: str) -> requests.Response:
        flt = f"Microsoft.Dynamics.CRM.In(PropertyName='lastname',PropertyValues={values})"
        return _get(api, f"{base}contacts?$select=lastname&$filter={quote(flt)}")

    assert [v["lastname"] for v in names('["O\'Brian","Nobody"]').json()["value"]] == ["O'Brian"]
    assert names("['Nobody','Noone']").status_code == 200  # Microsoft's own syntax example
    for bad in ("['O''Brian','Nobody']", '["a" "b"]', "[Nobody]"):
        resp = names(bad)
        assert resp.status_code == 400, bad
        assert resp.json()["error"]["message"].startswith(
            "Invalid JSON. A comma character ',' was expected in scope 'Array'."), bad


def test_counts_cap_at_5000_with_the_documented_annotations(api: requests.Session,
                                                            base: str) -> None:
    """docs/dataverse-webapi.md §Count."""
    ann = {"Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.totalrecordcount,'
                     'Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"'}
    small = _get(api, base + "accounts?$select=name&$count=true&$top=2", **ann).json()
    assert small["@odata.count"] == small["@Microsoft.Dynamics.CRM.totalrecordcount"] == 80
    assert small["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False
    without = _get(api, base + "accounts?$select=name&$top=1", **ann).json()
    assert "@odata.count" not in without
    assert without["@Microsoft.Dynamics.CRM.totalrecordcount"] == -1
    assert without["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False
    for chunk in range(5):
        targets = [{"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": f"Many {n}"}
                   for n in range(chunk * 1000, chunk * 1000 + 1000)]
        assert api.post(base + "contacts/Microsoft.Dynamics.CRM.CreateMultiple",
                        json={"Targets": targets}, timeout=60).status_code == 200
    big = _get(api, base + "contacts?$select=contactid&$count=true",
               Prefer="odata.maxpagesize=10," + ann["Prefer"]).json()
    assert len(big["value"]) == 10
    assert big["@odata.count"] == big["@Microsoft.Dynamics.CRM.totalrecordcount"] == 5000
    assert big["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is True
    plain = _get(api, base + "contacts/$count")
    assert plain.status_code == 200 and plain.text == "5000"
    assert plain.headers["Content-Type"].startswith("text/plain")
    filtered = _get(api, base + "contacts/$count?$filter=" + quote("startswith(lastname,'Many 1')"))
    assert filtered.text == "1111"  # Many 1, Many 10-19, 100-199, 1000-1999
