"""Pure protocol helpers: error mapping, `In` chunking, literals, $batch wire format."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from dynamics import errors
from dynamics.accounting import RequestLog, RequestRecord
from dynamics.batch import (
    BatchOperation,
    Transaction,
    decode_multipart,
    encode_batch,
    match_results,
    split_batches,
)
from dynamics.connection import Connection, Deployment
from dynamics.odata import chunk_in_values, id_from_entity_url, in_filter, string_literal
from dynamics.transport import build_query, entity_set_of


def test_it_maps_crm_error_bodies_to_named_exceptions() -> None:
    body = {"error": {"code": "0x80040217", "message": "contact With Id = x Does Not Exist"}}
    err = errors.error_from_response(404, body, request="GET contacts")
    assert isinstance(err, errors.NotFound) and isinstance(err, errors.PermanentError)
    assert err.code == "0x80040217" and "Does Not Exist" in str(err)

    throttled = errors.error_from_response(
        429, json.dumps({"error": {"code": "0x80072322", "message": "Number of requests"}}),
        retry_after="7")
    assert isinstance(throttled, errors.Throttled) and throttled.retry_after == 7.0
    assert isinstance(throttled, errors.TransientError)

    ct = errors.error_from_response(400, {"error": {"code": "0x80072491", "message": "x"}})
    assert isinstance(ct, errors.ChangeTrackingNotEnabled)
    expired = errors.error_from_response(400, {"error": {"code": "0x80044352", "message": "x"}})
    assert isinstance(expired, errors.ChangeTrackingExpired)
    assert isinstance(errors.error_from_response(410, b""), errors.ChangeTrackingExpired)
    assert isinstance(errors.error_from_response(412, {"error": {"code": "0x80040237"}}),
                      errors.DuplicateRecord)
    assert isinstance(errors.error_from_response(500, {"error": {"code": "0x80040333"}}),
                      errors.DuplicateRecord)
    assert isinstance(errors.error_from_response(403, b""), errors.PrivilegeError)
    assert isinstance(errors.error_from_response(401, b""), errors.AuthenticationFailed)
    assert isinstance(errors.error_from_response(503, b"<html>", retry_after="3"),
                      errors.ServiceUnavailable)
    assert isinstance(errors.error_from_response(400, b"not json"), errors.BadRequest)
    assert isinstance(errors.error_from_response(500, None), errors.ServerError)


def test_it_explains_the_certificate_and_version_errors_in_words() -> None:
    assert "Add its CA to the connection's CA bundle" in str(errors.CertificateError())
    assert "CRM 2013 and 2015 have no Web API" in str(errors.UnsupportedVersion())
    last = errors.ServiceUnavailable(status=503)
    exhausted = errors.RetriesExhausted(attempts=4, last_error=last)
    assert exhausted.status == 503 and "4 attempts" in exhausted.explanation


def test_it_keeps_secrets_out_of_repr() -> None:
    conn = Connection("https://org.example/api/data/v9.2", client_secret="s3cr3t-value",
                      password="pa55word", ca_bundle="-----BEGIN CERTIFICATE-----")
    assert "s3cr3t" not in repr(conn) and "pa55word" not in repr(conn)
    assert conn.api_url.endswith("/") and conn.org_url == "https://org.example"
    assert conn.scope == "https://org.example/.default"
    assert Connection("http://crm/org/api/data/v8.2/", deployment="on_premise").deployment \
        is Deployment.ON_PREMISE


def test_it_escapes_string_literals_and_in_values() -> None:
    assert string_literal("O'Bryan") == "'O''Bryan'"
    flt = in_filter("lastname", ["O'Bryan", 'say "hi"'])
    assert flt == ("Microsoft.Dynamics.CRM.In(PropertyName='lastname',"
                   'PropertyValues=["O\'Bryan","say \\"hi\\""])')
    query = build_query({"$filter": "name eq 'a&b+c'", "$select": "a,b"})
    assert "%26" in query and "%2B" in query and "%20" in query and "$select=a,b" in query
    assert unquote(query.split("&")[0].split("=", 1)[1]) == "name eq 'a&b+c'"


def test_it_chunks_in_values_under_the_url_limit_and_the_value_cap() -> None:
    values = [f"user{i}@example.com" for i in range(1000)] + ["user1@example.com"]
    chunks = list(chunk_in_values(values, fixed_chars=200, max_chars=4000, max_values=200))
    flat = [v for c in chunks for v in c]
    assert flat == values[:1000]  # order kept, duplicate dropped
    for chunk in chunks:
        url_len = 200 + len(build_query({"x": in_filter("emailaddress1", chunk)}))
        assert len(chunk) <= 200 and url_len < 4000 + 100
    assert len(chunks) > 5
    capped = list(chunk_in_values(values, fixed_chars=100, max_chars=1_000_000, max_values=200))
    assert [len(c) for c in capped] == [200] * 5


def test_it_reads_ids_and_entity_sets_from_urls() -> None:
    assert id_from_entity_url(
        "https://o/api/data/v9.2/accounts(7EB682F1-CA75-E511-80D4-00155D2A68D1)") \
        == "7eb682f1-ca75-e511-80d4-00155d2a68d1"
    assert entity_set_of("/org/api/data/v9.2/contacts(1)/x") == "contacts"
    assert entity_set_of("accounts?$select=name") == "accounts"


def test_it_encodes_a_batch_with_a_changeset_and_a_get() -> None:
    ops = [Transaction([BatchOperation("POST", "contacts", {"lastname": "A"}),
                        BatchOperation("PATCH", "$1", {"firstname": "B"})]),
           BatchOperation("GET", "contacts?$select=fullname")]
    body, ctype = encode_batch(ops, "/org/api/data/v9.2/", boundary="batch_x")
    text = body.decode()
    assert ctype == "multipart/mixed; boundary=batch_x"
    assert "POST /org/api/data/v9.2/contacts HTTP/1.1\r\n" in text
    assert "PATCH $1 HTTP/1.1" in text and "Content-ID: 1" in text and "Content-ID: 2" in text
    assert "GET /org/api/data/v9.2/contacts?$select=fullname HTTP/1.1" in text
    assert text.endswith("--batch_x--\r\n") and "\r\n\r\n{\"lastname\": \"A\"}" in text
    with pytest.raises(ValueError, match="GET is not allowed"):
        Transaction([BatchOperation("GET", "contacts")])


RESPONSE = (
    "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n"
    "--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary"
    "\r\nContent-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\n"
    "OData-EntityId: https://o/api/data/v9.2/contacts(11111111-1111-1111-1111-111111111111)"
    "\r\n\r\n\r\n--changesetresponse_2--\r\n"
    "--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary"
    "\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
    '{"value":[{"fullname":"A"}]}\r\n--batchresponse_1--\r\n')


def test_it_decodes_batch_answers_into_per_operation_results() -> None:
    items = [Transaction([BatchOperation("POST", "contacts", {"lastname": "A"},
                                         content_id="1")]),
             BatchOperation("GET", "contacts")]
    parts = decode_multipart("multipart/mixed; boundary=batchresponse_1", RESPONSE.encode())
    results = match_results(items, parts)
    assert [r.status for r in results] == [204, 200]
    assert results[0].entity_id == "11111111-1111-1111-1111-111111111111"
    assert results[1].body == {"value": [{"fullname": "A"}]} and results[1].ok


def test_it_marks_a_failed_changeset_as_rolled_back_and_the_rest_not_executed() -> None:
    failure = (
        "--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        "HTTP/1.1 400 Bad Request\r\nREQ_ID: x\r\nContent-Type: application/json\r\n\r\n"
        '{"error":{"code":"0x80044331","message":"too long"}}\r\n--b--\r\n')
    items = [Transaction([BatchOperation("POST", "tasks", {}), BatchOperation("POST", "tasks",
                                                                              {})]),
             BatchOperation("POST", "tasks", {})]
    results = match_results(items, decode_multipart("multipart/mixed; boundary=b", failure))
    assert isinstance(results[0].error, errors.BadRequest)
    assert results[0].error.code == "0x80044331"
    assert isinstance(results[1].error, errors.RolledBack)
    assert isinstance(results[2].error, errors.NotExecuted) and not results[2].ok


def test_it_splits_batches_at_1000_without_breaking_changesets() -> None:
    items: list[BatchOperation | Transaction] = [BatchOperation("POST", "x", {})
                                                 for _ in range(2500)]
    assert [sum(1 for _ in b) for b in split_batches(items)] == [1000, 1000, 500]
    tx = Transaction([BatchOperation("POST", "x", {}) for _ in range(600)])
    assert [len(b) for b in split_batches([tx, tx])] == [1, 1]


def test_it_totals_the_request_log() -> None:
    log = RequestLog()
    log.add(RequestRecord("POST", "$batch", 429, 0.1, 50, True, False))
    log.add(RequestRecord("POST", "$batch", 200, 0.2, 50, False, True, waited=5.0))
    log.add(RequestRecord("GET", "contacts", 200, 0.1, 1, False, False))
    totals = log.totals()
    assert (totals.round_trips, totals.operations, totals.throttled, totals.retries,
            totals.wait_seconds) == (3, 51, 1, 1, 5.0)
    assert totals.budget_share == 3 / 6000


def test_the_bulk_fallback_sends_create_only_and_update_only_patches() -> None:
    from dynamics.bulk import _batch_ops

    rid = "11111111-1111-1111-1111-111111111111"
    create = _batch_ops("CreateMultiple", "contacts", [{"contactid": rid, "lastname": "A"}],
                        "contactid")
    update = _batch_ops("UpdateMultiple", "contacts", [{"contactid": rid, "lastname": "B"}],
                        "contactid")
    upsert = _batch_ops("UpsertMultiple", "contacts",
                        [{"@odata.id": "contacts(emailaddress1='a@b.c')", "lastname": "C"}],
                        "contactid")
    assert [(o.method, o.path, o.headers, o.body) for o in create if
            isinstance(o, BatchOperation)] == [
        ("PATCH", f"contacts({rid})", {"If-None-Match": "*"}, {"lastname": "A"})]
    assert isinstance(update[0], BatchOperation) and update[0].headers == {"If-Match": "*"}
    assert isinstance(upsert[0], BatchOperation)
    assert upsert[0].path == "contacts(emailaddress1='a@b.c')" and upsert[0].headers == {}


def test_an_html_error_page_is_described_by_its_title_never_its_markup() -> None:
    from dynamics.errors import parse_error_body

    page = b"<!DOCTYPE html><html><head><title>502 Bad\n Gateway</title></head><body>x</body>"
    assert parse_error_body(page) == (None, "an HTML page: 502 Bad Gateway")
    assert parse_error_body(b"<html><body>no title</body></html>") == (None, "an HTML page")
    assert parse_error_body(b"plain words") == (None, "plain words")
