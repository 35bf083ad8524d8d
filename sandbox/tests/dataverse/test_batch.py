"""`$batch` codec and executor, checked against the requests and responses in Microsoft's docs."""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import json
import re
import uuid
from collections.abc import Iterator

import pytest
from crm_sandbox.dataverse.batch import (
    ChangeSet,
    Headers,
    SubRequest,
    SubResponse,
    execute_batch,
    parse_batch,
    resolve_references,
)
from crm_sandbox.dataverse.errors import DataverseError

ORG = "https://org.crm.dynamics.com/api/data/v9.2"
ACCOUNT = "00000000-0000-0000-0000-000000000001"
GUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# Microsoft's first example (no change set), as printed on the page.
DOC_BATCH = f"""--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{{
  "subject": "Task 1 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts({ACCOUNT})"
}}
--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{{
  "subject": "Task 2 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts({ACCOUNT})"
}}
--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{{
  "subject": "Task 3 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts({ACCOUNT})"
}}
--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

GET /api/data/v9.2/accounts({ACCOUNT})/Account_Tasks?$select=subject HTTP/1.1


--batch_80dd1615-2a10-428a-bb6f-0e559792721f--
"""
DOC_BATCH_TYPE = 'multipart/mixed; boundary="batch_80dd1615-2a10-428a-bb6f-0e559792721f"'

# Microsoft's change set example (absolute URLs, Content-IDs, $1 and $2 in bodies).
DOC_CHANGESET = f"""--batch_AAA123
Content-Type: multipart/mixed; boundary=changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST {ORG}/leads HTTP/1.1
Content-Type: application/json

{{
    "firstname":"first name",
    "lastname":"last name"
}}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

POST {ORG}/contacts HTTP/1.1
Content-Type: application/json

{{"firstname":"first name"}}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 3

POST {ORG}/accounts HTTP/1.1
Content-Type: application/json

{{
    "name":"IcM Account",
    "originatingleadid@odata.bind":"$1",
    "primarycontactid@odata.bind":"$2"
}}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab--
--batch_AAA123--
"""
DOC_CHANGESET_TYPE = "multipart/mixed;boundary=batch_AAA123"


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def lf(text: str) -> bytes:
    return text.encode()


class FakeService:
    """Records requests; POST creates a record, a body containing "fail" answers 400."""

    def __init__(self) -> None:
        self.requests: list[SubRequest] = []
        self.log: list[str] = []

    async def dispatch(self, request: SubRequest) -> SubResponse:
        self.requests.append(request)
        if b"fail" in request.body:
            body = {"error": {"code": "0x80044331", "message": "A validation error occurred."}}
            return SubResponse(
                400,
                {"Content-Type": "application/json; odata.metadata=minimal"},
                json.dumps(body).encode(),
            )
        if b"raise" in request.body:
            raise DataverseError(404, "0x80040217", "contact With Id = x Does Not Exist")
        if request.method == "GET":
            return SubResponse(
                200,
                {"Content-Type": "application/json; odata.metadata=minimal"},
                b'{"value":[]}',
            )
        if request.method == "POST":
            entity_set = request.relative_url.split("?")[0]
            url = f"{ORG}/{entity_set}({uuid.uuid4()})"
            return SubResponse(204, {"Location": url, "OData-EntityId": url})
        return SubResponse(204, {})

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.log.append("begin")
        try:
            yield
        except BaseException:
            self.log.append("rollback")
            raise
        self.log.append("commit")

    def run(self, parts, *, continue_on_error=False) -> tuple[int, str, bytes]:
        return asyncio.run(
            execute_batch(
                parts,
                self.dispatch,
                continue_on_error=continue_on_error,
                transaction=self.transaction,
            )
        )


def mime_parts(content_type: str, body: bytes) -> list:
    """Parse a response with the stdlib MIME parser: an independent well-formedness check."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    assert message.is_multipart()
    return list(message.iter_parts())


def statuses(body: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb"^HTTP/1\.1 (\d{3})", body, re.MULTILINE)]


def reader_error(content_type: str, body: bytes) -> DataverseError:
    with pytest.raises(DataverseError) as caught:
        parse_batch(content_type, body)
    assert caught.value.status == 400
    return caught.value


def part(request_line: str, body: str = "", *, content_id: str | None = None) -> str:
    cid = f"Content-ID: {content_id}\n" if content_id else ""
    headers = "Content-Type: application/json\n" if body else ""
    return (
        f"Content-Type: application/http\nContent-Transfer-Encoding: binary\n{cid}\n"
        f"{request_line} HTTP/1.1\n{headers}\n{body}\n"
    )


def batch(*parts: str, boundary: str = "batch_x") -> bytes:
    chunks = [f"--{boundary}\n{p}" for p in parts]
    return crlf("".join(chunks) + f"--{boundary}--\n")


def changeset(*parts: str, boundary: str = "changeset_y") -> str:
    inner = "".join(f"--{boundary}\n{p}" for p in parts)
    return f"Content-Type: multipart/mixed; boundary={boundary}\n\n{inner}--{boundary}--\n"


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("encode", [crlf, lf])
def test_parse_microsoft_batch(encode):
    parts = parse_batch(DOC_BATCH_TYPE, encode(DOC_BATCH))
    assert [type(p) for p in parts] == [SubRequest] * 4
    requests = [p for p in parts if isinstance(p, SubRequest)]
    assert [r.method for r in requests] == ["POST", "POST", "POST", "GET"]
    assert requests[0].url == "/api/data/v9.2/tasks"
    assert requests[0].relative_url == "tasks"
    assert requests[0].headers["content-type"] == "application/json; type=entry"
    assert json.loads(requests[1].body) == {
        "subject": "Task 2 in batch",
        "regardingobjectid_account_task@odata.bind": f"accounts({ACCOUNT})",
    }
    assert requests[3].body == b""
    assert requests[3].relative_url == f"accounts({ACCOUNT})/Account_Tasks?$select=subject"
    assert all(r.content_id is None for r in requests)


@pytest.mark.parametrize("encode", [crlf, lf])
def test_parse_microsoft_changeset(encode):
    (item,) = parse_batch(DOC_CHANGESET_TYPE, encode(DOC_CHANGESET))
    assert isinstance(item, ChangeSet)
    assert [r.content_id for r in item.requests] == ["1", "2", "3"]
    assert item.requests[0].url == f"{ORG}/leads"
    assert item.requests[0].relative_url == "leads"
    assert json.loads(item.requests[2].body)["primarycontactid@odata.bind"] == "$2"


def test_parse_keeps_preamble_out_and_accepts_padding():
    body = b"preamble\r\n--b \r\n" + crlf(part("DELETE /api/data/v9.2/contacts(1)")) + b"--b--\r\nx"
    (request,) = parse_batch("multipart/mixed; boundary=b", body)
    assert isinstance(request, SubRequest)
    assert (request.method, request.relative_url) == ("DELETE", "contacts(1)")


def test_content_id_in_operation_headers_is_accepted():
    text = (
        "Content-Type: application/http\nContent-Transfer-Encoding: binary\n\n"
        "POST /api/data/v9.2/contacts HTTP/1.1\nContent-ID: 7\nContent-Type: application/json\n\n"
        "{}\n"
    )
    (cs,) = parse_batch("multipart/mixed; boundary=batch_x", batch(changeset(text)))
    assert isinstance(cs, ChangeSet)
    assert cs.requests[0].content_id == "7"


def test_get_in_changeset_is_rejected():
    body = batch(changeset(part("GET /api/data/v9.2/contacts")))
    err = reader_error("multipart/mixed; boundary=batch_x", body)
    assert err.code == "0x0"
    assert err.message == (
        "An invalid HTTP method 'GET' was detected for a request in a change set. Requests in "
        "change sets only support the HTTP methods 'POST', 'PUT', 'DELETE', and 'PATCH'."
    )


def test_forward_reference_is_rejected():
    # Microsoft's forward-reference example
    body = batch(
        changeset(
            part(
                f"POST {ORG}/phonecalls",
                '{"phonenumber":"911","regardingobjectid_account_phonecall@odata.bind":"$1"}',
                content_id="2",
            ),
            part(f"POST {ORG}/accounts", '{"name":"QQQQ","revenue":1.50}', content_id="1"),
            boundary="changeset_BBB456",
        ),
        boundary="batch_AAA123",
    )
    err = reader_error("multipart/mixed;boundary=batch_AAA123", body)
    assert err.message == "Content-ID Reference: '$1' does not exist in the batch context."


def test_reference_outside_changeset_is_rejected():
    err = reader_error("multipart/mixed; boundary=batch_x", batch(part("PATCH $1", '{"name":"x"}')))
    assert err.message == "Content-ID Reference: '$1' does not exist in the batch context."


def test_system_resources_are_not_references():
    (request,) = parse_batch("multipart/mixed; boundary=batch_x", batch(part("GET $metadata")))
    assert isinstance(request, SubRequest)


def test_duplicate_content_id_is_rejected():
    body = batch(
        changeset(
            part("POST /api/data/v9.2/contacts", "{}", content_id="1"),
            part("POST /api/data/v9.2/contacts", "{}", content_id="1"),
        )
    )
    err = reader_error("multipart/mixed; boundary=batch_x", body)
    assert "The content ID '1' was found more than once" in err.message


def test_1000_requests_accepted_1001_rejected():
    request = part("DELETE /api/data/v9.2/contacts(1)")
    assert len(parse_batch("multipart/mixed; boundary=batch_x", batch(*[request] * 1000))) == 1000
    err = reader_error("multipart/mixed; boundary=batch_x", batch(*[request] * 1001))
    assert err.message == (
        "The current batch message contains too many parts. Only batch messages with a maximum "
        "number of '1000' query operations, including changeset operations, are allowed."
    )


def test_1001_requests_in_changeset_rejected():
    request = part("DELETE /api/data/v9.2/contacts(1)")
    err = reader_error("multipart/mixed; boundary=batch_x", batch(changeset(*[request] * 1001)))
    assert err.message == (
        "The current change set contains too many operations. A maximum number of '1000' "
        "operations are allowed in a change set."
    )


def test_requests_counted_across_changesets():
    request = part("DELETE /api/data/v9.2/contacts(1)")
    body = batch(changeset(*[request] * 600, boundary="cs1"), changeset(*[request] * 401))
    assert "too many parts" in reader_error("multipart/mixed; boundary=batch_x", body).message


def test_nested_batch_and_changeset_rejected():
    err = reader_error(
        "multipart/mixed; boundary=batch_x", batch(part("POST /api/data/v9.2/$batch", "{}"))
    )
    assert "can't contain other batch requests" in err.message
    nested = changeset(changeset(part("POST /api/data/v9.2/contacts", "{}"), boundary="cs2"))
    err = reader_error("multipart/mixed; boundary=batch_x", batch(nested))
    assert err.message == "Nested change sets in a batch payload are not supported."


@pytest.mark.parametrize(
    ("content_type", "body", "fragment"),
    [
        ("application/json", b"{}", "'multipart/mixed' content type"),
        ("multipart/mixed", b"--x--", "'boundary'"),
        ("multipart/mixed; boundary=b", b"--b\r\n" + crlf(part("GET /x")), "end of input"),
        (
            "multipart/mixed; boundary=b",
            b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--",
            "The 'Content-Type' header value 'text/plain' is not valid",
        ),
        (
            "multipart/mixed; boundary=b",
            b"--b\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\n\r\n--b--",
            "'Content-Transfer-Encoding' header is missing or invalid",
        ),
        (
            "multipart/mixed; boundary=b",
            b"--b\r\n" + crlf(part("FETCH /x")) + b"--b--",
            "The request line 'FETCH /x HTTP/1.1' is invalid",
        ),
        (
            "multipart/mixed; boundary=b",
            b"--b\r\n" + crlf(part("GET /x").replace("HTTP/1.1", "HTTP/2")) + b"--b--",
            "The HTTP version 'HTTP/2'",
        ),
        (
            "multipart/mixed; boundary=b",
            b"--b\r\n"
            + crlf(part("GET /x").replace("Content-Transfer", "Bogus\nContent-Transfer"))
            + b"--b--",
            "The message header 'Bogus' is invalid",
        ),
    ],
)
def test_malformed_batches(content_type, body, fragment):
    err = reader_error(content_type, body)
    assert err.code == "0x0"
    assert fragment in err.message


def test_headers_are_case_insensitive():
    headers = Headers({"Content-Type": "a"})
    headers["content-type"] = "b"
    assert dict(headers) == {"Content-Type": "b"}
    assert headers["CONTENT-TYPE"] == "b"
    assert "content-TYPE" in headers
    assert headers.get("x-missing", "d") == "d"
    del headers["CONTENT-type"]
    assert "Content-Type" not in headers


# --- execution -----------------------------------------------------------------------------------


@pytest.mark.parametrize("encode", [crlf, lf])
def test_round_trip_microsoft_batch(encode):
    service = FakeService()
    status, content_type, body = service.run(parse_batch(DOC_BATCH_TYPE, encode(DOC_BATCH)))
    assert status == 200
    assert re.fullmatch(rf"multipart/mixed; boundary=batchresponse_{GUID_RE}", content_type)
    boundary = content_type.split("=", 1)[1]
    text = body.decode()
    assert text.startswith(f"--{boundary}\r\nContent-Type: application/http\r\n")
    assert text.endswith(f"--{boundary}--\r\n")
    assert "\n" not in text.replace("\r\n", "")  # CRLF throughout
    assert statuses(body) == [204, 204, 204, 200]
    assert re.search(
        rf"HTTP/1\.1 204 No Content\r\nOData-Version: 4\.0\r\nLocation: {re.escape(ORG)}/tasks\("
        rf"{GUID_RE}\)\r\nOData-EntityId: {re.escape(ORG)}/tasks\({GUID_RE}\)\r\n\r\n\r\n--",
        text,
    )
    assert text.count(f"--{boundary}\r\n") == 4
    assert (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json; odata.metadata=minimal\r\n"
        'OData-Version: 4.0\r\n\r\n{"value":[]}\r\n--' in text
    )
    assert service.log == []  # stand-alone requests do not open a change-set transaction
    parts = mime_parts(content_type, body)
    assert [p.get_content_type() for p in parts] == ["application/http"] * 4


def test_changeset_round_trip_resolves_references():
    service = FakeService()
    status, content_type, body = service.run(parse_batch(DOC_CHANGESET_TYPE, crlf(DOC_CHANGESET)))
    assert status == 200
    assert service.log == ["begin", "commit"]
    created = re.findall(rf"OData-EntityId: ({re.escape(ORG)}/\w+\({GUID_RE}\))", body.decode())
    lead_url, contact_url, _ = created
    assert json.loads(service.requests[2].body) == {
        "name": "IcM Account",
        "originatingleadid@odata.bind": lead_url,
        "primarycontactid@odata.bind": contact_url,
    }
    text = body.decode()
    cs_boundary = re.search(r"boundary=(changesetresponse_[0-9a-f-]{36})\r\n\r\n", text)
    assert cs_boundary is not None
    assert re.findall(r"Content-ID: (\d)", text) == ["1", "2", "3"]
    assert f"--{cs_boundary.group(1)}--\r\n--batchresponse_" in text
    (outer,) = mime_parts(content_type, body)
    assert outer.get_content_type() == "multipart/mixed"
    inner = list(outer.iter_parts())
    assert [p["Content-ID"] for p in inner] == ["1", "2", "3"]


def test_reference_in_url_resolves():
    # Microsoft's "Reference URI in request URL" example
    body = batch(
        changeset(
            part(f"POST {ORG}/contacts", '{"firstname":"First Name"}', content_id="1"),
            part("PUT $1/lastname", '{"value":"BBBBB"}', content_id="2"),
        ),
        changeset(
            part(f"POST {ORG}/accounts", '{"name":"Account name"}', content_id="1"),
            part(f"POST {ORG}/contacts", '{"firstname":"x"}', content_id="2"),
            part("PATCH $1", '{"primarycontactid@odata.bind":"$2"}', content_id="3"),
            boundary="cs2",
        ),
    )
    service = FakeService()
    status, _, response = service.run(parse_batch("multipart/mixed; boundary=batch_x", body))
    assert status == 200
    put, patch = service.requests[1], service.requests[4]
    contact_url = re.findall(
        rf"OData-EntityId: ({re.escape(ORG)}/contacts\({GUID_RE}\))", response.decode()
    )
    assert put.url == f"{contact_url[0]}/lastname"
    assert re.fullmatch(rf"contacts\({GUID_RE}\)/lastname", put.relative_url)
    assert patch.url.startswith(f"{ORG}/accounts(")
    assert json.loads(patch.body)["primarycontactid@odata.bind"] == contact_url[1]
    assert service.log == ["begin", "commit", "begin", "commit"]


def test_changeset_failure_rolls_back_and_answers_with_the_error_only():
    body = batch(
        changeset(
            part("POST /api/data/v9.2/contacts", '{"firstname":"ok"}', content_id="1"),
            part("POST /api/data/v9.2/contacts", '{"firstname":"fail"}', content_id="2"),
            part("POST /api/data/v9.2/contacts", '{"firstname":"never"}', content_id="3"),
        ),
        part("GET /api/data/v9.2/contacts"),
    )
    service = FakeService()
    status, content_type, response = service.run(
        parse_batch("multipart/mixed; boundary=batch_x", body)
    )
    assert service.log == ["begin", "rollback"]
    assert len(service.requests) == 2  # stopped inside the change set, GET never ran
    assert status == 400
    assert statuses(response) == [400]
    text = response.decode()
    assert "changesetresponse" not in text
    assert "Content-ID" not in text
    assert '"code": "0x80044331"' in text
    (only,) = mime_parts(content_type, response)
    assert only.get_content_type() == "application/http"


def test_changeset_failure_with_continue_on_error():
    body = batch(
        changeset(part("POST /api/data/v9.2/contacts", '{"firstname":"fail"}', content_id="1")),
        changeset(part("POST /api/data/v9.2/contacts", '{"firstname":"ok"}', content_id="1")),
        part("GET /api/data/v9.2/contacts"),
    )
    service = FakeService()
    status, _, response = service.run(
        parse_batch("multipart/mixed; boundary=batch_x", body), continue_on_error=True
    )
    assert status == 200
    assert service.log == ["begin", "rollback", "begin", "commit"]
    assert statuses(response) == [400, 204, 200]


def _doc_error_batch() -> bytes:
    # Microsoft's error example: the first task's subject is too long
    return batch(
        part("POST /api/data/v9.2/tasks", '{"subject":"fail: Subject is too long"}'),
        part("POST /api/data/v9.2/tasks", '{"subject":"Task 2 in batch"}'),
        part("POST /api/data/v9.2/tasks", '{"subject":"Task 3 in batch"}'),
        boundary="batch_431faf5a-f979-4ee6-a374-d242f8962d41",
    )


def test_stop_on_first_error():
    service = FakeService()
    parts = parse_batch(
        'multipart/mixed; boundary="batch_431faf5a-f979-4ee6-a374-d242f8962d41"',
        _doc_error_batch(),
    )
    status, content_type, response = service.run(parts)
    assert status == 400
    assert len(service.requests) == 1
    assert statuses(response) == [400]
    assert re.search(
        r"\r\n\r\nHTTP/1\.1 400 Bad Request\r\nContent-Type: application/json; "
        r"odata\.metadata=minimal\r\nOData-Version: 4\.0\r\n\r\n\{\"error\": ",
        response.decode(),
    )
    assert len(mime_parts(content_type, response)) == 1


def test_continue_on_error():
    service = FakeService()
    parts = parse_batch(
        "multipart/mixed; boundary=batch_431faf5a-f979-4ee6-a374-d242f8962d41",
        _doc_error_batch(),
    )
    status, content_type, response = service.run(parts, continue_on_error=True)
    assert status == 200
    assert len(service.requests) == 3
    assert statuses(response) == [400, 204, 204]
    assert len(mime_parts(content_type, response)) == 3


def test_stop_after_earlier_successes_keeps_them():
    body = batch(
        part("POST /api/data/v9.2/contacts", '{"firstname":"ok"}'),
        part("DELETE /api/data/v9.2/contacts(1)", '{"raise":1}'),
        part("POST /api/data/v9.2/contacts", '{"firstname":"never"}'),
    )
    service = FakeService()
    status, _, response = service.run(parse_batch("multipart/mixed; boundary=batch_x", body))
    assert status == 404
    assert statuses(response) == [204, 404]
    assert len(service.requests) == 2


def test_dataverse_error_from_dispatch_becomes_json_part():
    body = batch(part("DELETE /api/data/v9.2/contacts(1)", '{"raise":1}'))
    service = FakeService()
    status, _, response = service.run(
        parse_batch("multipart/mixed; boundary=batch_x", body), continue_on_error=True
    )
    assert status == 200
    text = response.decode()
    assert (
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json; odata.metadata=minimal\r\n"
        "OData-Version: 4.0\r\n\r\n" in text
    )
    assert text.count("OData-Version: 4.0") == 1
    assert (
        '{"error":{"code":"0x80040217","message":"contact With Id = x Does Not Exist"}}\r\n' in text
    )


def test_reference_to_request_without_entity_id_fails_the_changeset():
    body = batch(
        changeset(
            part("DELETE /api/data/v9.2/contacts(1)", content_id="1"),
            part("PATCH $1", '{"firstname":"x"}', content_id="2"),
        )
    )
    service = FakeService()
    status, _, response = service.run(parse_batch("multipart/mixed; boundary=batch_x", body))
    assert status == 400
    assert service.log == ["begin", "rollback"]
    assert len(service.requests) == 1
    assert "Content-ID Reference: '$1' does not exist in the batch context." in response.decode()


def test_unexpected_exception_rolls_back_and_propagates():
    async def broken(request: SubRequest) -> SubResponse:
        raise RuntimeError("boom")

    service = FakeService()
    parts = parse_batch(
        "multipart/mixed; boundary=batch_x",
        batch(changeset(part("POST /api/data/v9.2/contacts", "{}", content_id="1"))),
    )
    with pytest.raises(RuntimeError):
        asyncio.run(
            execute_batch(parts, broken, continue_on_error=False, transaction=service.transaction)
        )
    assert service.log == ["begin", "rollback"]


def test_empty_batch():
    service = FakeService()
    status, content_type, body = service.run(parse_batch("multipart/mixed; boundary=b", b"--b--"))
    assert status == 200
    assert body == f"--{content_type.split('=')[1]}--\r\n".encode()


def test_resolve_references_leaves_plain_requests_alone():
    request = SubRequest("POST", "/api/data/v9.2/contacts", Headers(), b'{"a": "$1"}', None)
    assert resolve_references(request, {}) is request
    bound = SubRequest(
        "POST", "contacts", Headers(), b'{"x@odata.bind": ["$1", "/contacts(2)"]}', None
    )
    resolved = resolve_references(bound, {"1": f"{ORG}/contacts(1)"})
    assert json.loads(resolved.body) == {"x@odata.bind": [f"{ORG}/contacts(1)", "/contacts(2)"]}
