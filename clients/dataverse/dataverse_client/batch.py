"""Web API `$batch` with one change set: atomic writes for tables without the *Multiple messages.

`send_changeset(client, operations)` posts one `multipart/mixed` batch holding one change set
(each operation an `application/http` part with its `Content-ID`, 1-based) through the client's
session, auth and retry policy. Dataverse runs a change set all or nothing: on success every
operation's response comes back; on failure the batch answers with the failing operation's error
alone, raised here as `ChangeSetError` (its `index` when the part carries a `Content-ID`).
"""

from __future__ import annotations

import typing as t
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

import msgspec

from dataverse_client.client import DataverseAPIError

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import requests

    from dataverse_client.client import DataverseClient

MAX_OPERATIONS = 1000  # requests a batch (and a change set) may hold
CRLF = "\r\n"


@dataclass(frozen=True)
class Operation:
    """One write of a change set: method, path relative to the service root, JSON body."""

    method: str
    path: str
    body: Mapping[str, t.Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OperationResponse:
    """One part of a batch response."""

    status: int
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


class ChangeSetError(DataverseAPIError):
    """The change set was rolled back because one operation failed.

    `index` is that operation's position in the list sent (from the part's `Content-ID`),
    or None when the response does not say which operation failed.
    """

    def __init__(
        self, status: int, code: str, message: str, request: str, index: int | None
    ) -> None:
        """Keep Dataverse's status, code and message, and which operation failed, if known."""
        super().__init__(status, code, message, request)
        self.index = index


def build_changeset(
    operations: Sequence[Operation], api_path: str, batch_id: str, changeset_id: str
) -> bytes:
    """Return the body of a batch holding one change set of `operations` (CRLF line ends)."""
    lines = [
        f"--batch_{batch_id}",
        f"Content-Type: multipart/mixed; boundary=changeset_{changeset_id}",
        "",
    ]
    for number, operation in enumerate(operations, start=1):
        headers = {"Content-Type": "application/json; type=entry", **operation.headers}
        lines += [
            f"--changeset_{changeset_id}",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            f"Content-ID: {number}",
            "",
            f"{operation.method} {api_path}{operation.path.lstrip('/')} HTTP/1.1",
            *(f"{name}: {value}" for name, value in headers.items()),
            "",
            msgspec.json.encode(operation.body or {}).decode(),
        ]
    lines += [f"--changeset_{changeset_id}--", f"--batch_{batch_id}--", ""]
    return CRLF.join(lines).encode()


def _boundary(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip('"')
    return None


def _parts(body: bytes, boundary: str) -> list[bytes]:
    """Return the body parts between `--boundary` lines (preamble and epilogue dropped)."""
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[bytes] = []
    current: list[bytes] | None = None
    for line in body.splitlines(keepends=True):
        bare = line.rstrip(b"\r\n")
        if bare in (delimiter, delimiter + b"--"):
            if current is not None:
                parts.append(b"".join(current).removesuffix(b"\n").removesuffix(b"\r"))
            if bare.endswith(b"--"):
                break
            current = []
        elif current is not None:
            current.append(line)
    return parts


def _headers(block: bytes) -> tuple[dict[str, str], bytes]:
    """Split `Name: value` lines (lower-cased names) up to the first blank line from the rest."""
    head, _, rest = block.replace(b"\r\n", b"\n").partition(b"\n\n")
    headers = {}
    for line in head.decode("latin-1").split("\n"):
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _http_part(block: bytes) -> OperationResponse:
    mime, message = _headers(block)
    status_line, _, rest = message.lstrip(b"\r\n").partition(b"\n")
    status = int(status_line.split()[1])
    headers, body = _headers(rest) if rest.strip() else ({}, b"")
    content_id = mime.get("content-id") or headers.get("content-id")
    return OperationResponse(status, headers, body.strip(b"\r\n"), content_id)


def parse_response(content_type: str, body: bytes) -> list[OperationResponse]:
    """Flatten a `$batch` response (change set parts included) into its operation responses."""
    boundary = _boundary(content_type)
    if boundary is None:
        return []
    responses: list[OperationResponse] = []
    for part in _parts(body, boundary):
        mime, rest = _headers(part)
        inner = _boundary(mime.get("content-type", ""))
        if inner is not None:
            responses += [_http_part(p) for p in _parts(rest, inner)]
        else:
            responses.append(_http_part(part))
    return responses


def part_error(response: OperationResponse) -> tuple[str, str]:
    """Return Dataverse's (code, message) of a failed part of a batch."""
    try:
        error = msgspec.json.decode(response.body).get("error") or {}
    except (msgspec.DecodeError, AttributeError):
        error = {}
    message = error.get("message") or response.body.decode(errors="replace")[:500]
    return str(error.get("code") or ""), str(message)


def post_batch(client: DataverseClient, body: bytes, boundary: str) -> requests.Response:
    """POST the batch once; leave a multipart answer (even a failed change set) to the caller."""
    response = client.session.request(
        "POST",
        client.url("$batch"),
        headers={"Content-Type": f'multipart/mixed; boundary="{boundary}"'},
        data=body,
        timeout=client.timeout,
    )
    status = response.status_code
    multipart = response.headers.get("Content-Type", "").startswith("multipart/mixed")
    if not multipart or status == HTTPStatus.TOO_MANY_REQUESTS or status >= 500:
        client.retry.validate(response)  # raises the client's errors (retriable or not)
    return response


def send_changeset(
    client: DataverseClient, operations: Sequence[Operation]
) -> list[OperationResponse]:
    """Run `operations` as one atomic change set; return their responses, in order.

    Raises `ChangeSetError` when the change set was rolled back, other `DataverseAPIError`s when
    the batch itself was refused; 429 and 5xx are retried by the client's policy.
    """
    if not 0 < len(operations) <= MAX_OPERATIONS:
        msg = f"a change set holds 1 to {MAX_OPERATIONS} operations, got {len(operations)}"
        raise ValueError(msg)
    batch_id, changeset_id = uuid.uuid4().hex, uuid.uuid4().hex
    api_path = urlsplit(client.api_url).path
    body = build_changeset(operations, api_path, batch_id, changeset_id)
    send = client.retry.wrap(post_batch, on_backoff=client.log_backoff)
    response = send(client, body, f"batch_{batch_id}")
    parts = parse_response(response.headers.get("Content-Type", ""), response.content)
    failed = next((p for p in parts if p.status >= HTTPStatus.BAD_REQUEST), None)
    if failed is None and len(parts) == len(operations):
        return parts
    if failed is None:
        msg = f"$batch answered {len(parts)} parts for {len(operations)} operations"
        raise DataverseAPIError(response.status_code, "", msg, "POST $batch")
    code, message = part_error(failed)
    index = _index(failed.content_id, len(operations))
    request = "POST $batch"
    if index is not None:
        request += f" ({operations[index].method} {operations[index].path})"
    raise ChangeSetError(failed.status, code, message, request, index)


def _index(content_id: str | None, count: int) -> int | None:
    """Return the 0-based operation a `Content-ID` names (we number them 1…count), else None."""
    if content_id is None or not content_id.isdigit() or not 0 < int(content_id) <= count:
        return None
    return int(content_id) - 1
