"""The Web API `$batch` endpoint: multipart/mixed request parser, executor and response writer.

Pure apart from the two callables `execute_batch` is given: `dispatch` runs one sub-request
against the emulator, `transaction` opens the atomic scope a change set runs in.

Format and semantics follow Microsoft's "Execute batch operations using the Web API" page: parts
are `application/http` with `Content-Transfer-Encoding: binary`; change sets are nested
`multipart/mixed` bodies whose requests may carry `Content-ID` and refer to earlier ones as `$n`;
`GET` is not allowed in a change set; at most 1000 requests and no nested batches. Responses use
`batchresponse_<guid>` / `changesetresponse_<guid>` boundaries and CRLF line endings. Requests are
accepted with CRLF or bare LF line endings (Dataverse itself trips over LF, but clients differ and
the sandbox is not the place to test that).

Errors raised while reading the batch are Microsoft.OData.Core (ODataLib) reader errors; Dataverse
returns them with code `0x0` like its other ODataLib errors. Texts marked "observed" are
Dataverse's; the others are ODataLib's resource strings (our best reading).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from .errors import DataverseError

MAX_REQUESTS = 1000
ODATA_ERROR = "0x0"  # code Dataverse gives errors raised by ODataLib
CRLF = b"\r\n"
ALLOWED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
# `$name` URL prefixes that are OData resources, not Content-ID references.
SYSTEM_RESOURCES = frozenset({"$metadata", "$batch", "$entity", "$all", "$crossjoin", "$root"})
JSON_ERROR_CONTENT_TYPE = "application/json; odata.metadata=minimal"

_REFERENCE_RE = re.compile(r"^\$([^/?(]+)")
_API_PATH_RE = re.compile(r"^/?api/data/v\d+(?:\.\d+)?/")


class Headers(dict[str, str]):
    """HTTP headers: keeps the first spelling of each name, looks names up case-insensitively."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        """Build from a mapping or (name, value) pairs; a repeated name keeps the last value."""
        super().__init__()
        self._names: dict[str, str] = {}
        pairs = items.items() if isinstance(items, Mapping) else items
        for name, value in pairs:
            self[name] = value

    def __setitem__(self, name: str, value: str) -> None:
        """Set `name`, replacing any header with the same name in another case."""
        original = self._names.setdefault(name.lower(), name)
        super().__setitem__(original, value)

    def __getitem__(self, name: str) -> str:
        """Look `name` up case-insensitively."""
        return super().__getitem__(self._names.get(name.lower(), name))

    def __delitem__(self, name: str) -> None:
        """Remove `name` (any case)."""
        super().__delitem__(self._names.pop(name.lower(), name))

    def __contains__(self, name: object) -> bool:
        """Case-insensitive membership."""
        return isinstance(name, str) and name.lower() in self._names

    def get(self, name: str, default: Any = None) -> Any:
        """Case-insensitive `dict.get`."""
        key = self._names.get(name.lower())
        return default if key is None else super().__getitem__(key)


@dataclass(frozen=True)
class SubRequest:
    """One request of a batch; `url` is as written in the request line (after `$n` resolution)."""

    method: str
    url: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    content_id: str | None = None

    @property
    def relative_url(self) -> str:
        """The URL relative to the service root, e.g. `tasks?$select=subject`."""
        url = self.url
        if "://" in url:
            parts = urlsplit(url)
            url = parts.path + (f"?{parts.query}" if parts.query else "")
        return _API_PATH_RE.sub("", url, count=1).lstrip("/")


BatchRequest = SubRequest


@dataclass(frozen=True)
class ChangeSet:
    """An atomic group of requests (a nested `multipart/mixed` part)."""

    requests: tuple[SubRequest, ...]


@dataclass(frozen=True)
class SubResponse:
    """What `dispatch` answers for one sub-request."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Dispatch = Callable[[SubRequest], Awaitable[SubResponse]]
Transaction = Callable[[], AbstractContextManager[object]]


# --- errors --------------------------------------------------------------------------------------


def _reader_error(message: str) -> DataverseError:
    return DataverseError(400, ODATA_ERROR, message)


def content_id_error(reference: str) -> DataverseError:
    """Unknown or forward `$n` reference (documented verbatim)."""
    return _reader_error(
        f"Content-ID Reference: '${reference}' does not exist in the batch context."
    )


def _too_many_parts() -> DataverseError:
    # observed (with 250 in place of 1000 on a throttled org)
    return _reader_error(
        "The current batch message contains too many parts. Only batch messages with a maximum "
        f"number of '{MAX_REQUESTS}' query operations, including changeset operations, are allowed."
    )


def _too_many_in_changeset() -> DataverseError:
    # observed
    return _reader_error(
        "The current change set contains too many operations. A maximum number of "
        f"'{MAX_REQUESTS}' operations are allowed in a change set."
    )


def _error_response(error: DataverseError) -> SubResponse:
    body = json.dumps(error.body(), ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": JSON_ERROR_CONTENT_TYPE, "OData-Version": "4.0", **error.headers}
    return SubResponse(error.status, headers, body)


# --- parsing -------------------------------------------------------------------------------------


def _media_type(content_type: str) -> tuple[str, dict[str, str]]:
    media, *params = content_type.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        name, _, value = param.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        parsed[name.strip().lower()] = value
    return media.strip().lower(), parsed


def _boundary(content_type: str) -> str:
    media, params = _media_type(content_type)
    boundary = params.get("boundary", "")
    if media != "multipart/mixed" or not boundary:
        raise _reader_error(
            f"The content type '{content_type}' specified for the batch request is not valid. "
            "A batch request must use the 'multipart/mixed' content type with a 'boundary' "
            "parameter."
        )
    return boundary


def _split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """Body parts between `--boundary` delimiters, up to `--boundary--` (preamble dropped)."""
    delimiter = b"--" + boundary.encode("latin-1")
    close = delimiter + b"--"
    parts: list[bytes] = []
    current: list[bytes] | None = None
    for line in body.splitlines(keepends=True):
        bare = line.rstrip(b"\r\n").rstrip(b" \t")
        if bare in (delimiter, close):
            if current is not None:
                parts.append(_strip_eol(b"".join(current)))
            if bare == close:
                return parts
            current = []
        elif current is not None:
            current.append(line)
    raise _reader_error("Encountered an unexpected end of input while reading the batch payload.")


def _strip_eol(data: bytes) -> bytes:
    """Drop the line break that belongs to the following delimiter (RFC 2046)."""
    if data.endswith(b"\r\n"):
        return data[:-2]
    return data[:-1] if data.endswith(b"\n") else data


def _read_headers(data: bytes) -> tuple[Headers, bytes]:
    """Split `Name: value` lines up to the first blank line from what follows."""
    headers = Headers()
    rest = data
    while rest:
        line, newline, remainder = rest.partition(b"\n")
        text = line.rstrip(b"\r").decode("latin-1")
        rest = remainder
        if not text.strip():
            return headers, rest
        name, colon, value = text.partition(":")
        if not colon or not name.strip():
            raise _reader_error(
                f"The message header '{text}' is invalid. The header value must be of the format "
                "'<header name>: <header value>'."
            )
        headers[name.strip()] = value.strip()
        if not newline:
            break
    return headers, b""


def _parse_operation(part_headers: Headers, content: bytes, in_changeset: bool) -> SubRequest:
    encoding = part_headers.get("Content-Transfer-Encoding", "")
    if encoding.strip().lower() != "binary":
        raise _reader_error(
            "The 'Content-Transfer-Encoding' header is missing or invalid. The "
            "'Content-Transfer-Encoding' header must be specified for each batch operation, and "
            "the value must be 'binary'."
        )
    message = content.lstrip(b"\r\n")
    request_line, _, rest = message.partition(b"\n")
    line = request_line.rstrip(b"\r").decode("utf-8", errors="replace")
    method, _, remainder = line.partition(" ")
    url, _, version = remainder.strip().rpartition(" ")
    if not url or method not in ALLOWED_METHODS:
        raise _reader_error(
            f"The request line '{line}' is invalid. The request line at the start of each "
            "operation must have the format 'METHOD URL HTTP_VERSION'."
        )
    if version != "HTTP/1.1":
        raise _reader_error(
            f"The HTTP version '{version}' used in a batch operation request or response is not "
            "valid. The value must be 'HTTP/1.1'."
        )
    if in_changeset and method == "GET":
        # ODataLib's resource string, verbatim
        raise _reader_error(
            "An invalid HTTP method 'GET' was detected for a request in a change set. Requests in "
            "change sets only support the HTTP methods 'POST', 'PUT', 'DELETE', and 'PATCH'."
        )
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    if path.rstrip("/").endswith("$batch"):
        raise _reader_error(
            "Batch requests can contain up to 1000 individual requests and can't contain other "
            "batch requests."
        )
    headers, body = _read_headers(rest)
    content_id = part_headers.get("Content-ID") or headers.get("Content-ID")
    return SubRequest(method, url, headers, body.rstrip(b"\r\n"), content_id or None)


def _content_type_error(value: str) -> DataverseError:
    return _reader_error(
        f"The 'Content-Type' header value '{value}' is not valid. When this is the start of the "
        "change set, the value must be 'multipart/mixed'; otherwise it must be 'application/http'."
    )


def _parse_changeset(boundary: str, content: bytes) -> ChangeSet:
    requests: list[SubRequest] = []
    seen: set[str] = set()
    for raw in _split_multipart(content, boundary):
        part_headers, part_body = _read_headers(raw)
        content_type = part_headers.get("Content-Type", "")
        media, _ = _media_type(content_type)
        if media == "multipart/mixed":
            raise _reader_error("Nested change sets in a batch payload are not supported.")
        if media != "application/http":
            raise _content_type_error(content_type)
        request = _parse_operation(part_headers, part_body, in_changeset=True)
        for reference in _references(request):
            if reference not in seen:
                raise content_id_error(reference)
        if request.content_id is not None:
            if request.content_id in seen:
                raise _reader_error(
                    f"The content ID '{request.content_id}' was found more than once in the same "
                    "change set or same batch request. Content IDs have to be unique across all "
                    "operations of a change set for OData V4.0 and have to be unique across all "
                    "operations in the whole batch request for OData V4.01."
                )
            seen.add(request.content_id)
        requests.append(request)
        if len(requests) > MAX_REQUESTS:
            raise _too_many_in_changeset()
    return ChangeSet(tuple(requests))


def parse_batch(content_type: str, body: bytes) -> list[BatchRequest | ChangeSet]:
    """Parse a `$batch` request body into stand-alone requests and change sets.

    Raises DataverseError (400) for a malformed body, a GET inside a change set, a nested batch
    or change set, a `$n` reference to no earlier request of the same change set, or more than
    1000 requests.
    """
    items: list[BatchRequest | ChangeSet] = []
    total = 0
    for raw in _split_multipart(body, _boundary(content_type)):
        part_headers, part_body = _read_headers(raw)
        content_type_value = part_headers.get("Content-Type", "")
        media, params = _media_type(content_type_value)
        item: BatchRequest | ChangeSet
        if media == "multipart/mixed" and params.get("boundary"):
            item = _parse_changeset(params["boundary"], part_body)
            total += len(item.requests)
        elif media == "application/http":
            item = _parse_operation(part_headers, part_body, in_changeset=False)
            references = _references(item)
            if references:  # references only work inside change sets
                raise content_id_error(references[0])
            total += 1
        else:
            raise _content_type_error(content_type_value)
        items.append(item)
        if total > MAX_REQUESTS or len(items) > MAX_REQUESTS:
            raise _too_many_parts()
    return items


# --- Content-ID references -----------------------------------------------------------------------


def _reference_in(value: str) -> str | None:
    match = _REFERENCE_RE.match(value)
    if not match or f"${match.group(1)}" in SYSTEM_RESOURCES:
        return None
    return match.group(1)


def _json_object(body: bytes) -> dict[str, Any] | None:
    if not body.lstrip().startswith(b"{"):
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None  # the dispatcher reports malformed JSON
    return document if isinstance(document, dict) else None


def _is_reference_key(key: str) -> bool:
    return key.endswith("@odata.bind") or key == "@odata.id"


def _references(request: SubRequest) -> list[str]:
    """Content-IDs referred to by the request URL and by `@odata.bind`/`@odata.id` values."""
    found: list[str] = []
    url_reference = _reference_in(request.url)
    if url_reference is not None:
        found.append(url_reference)
    document = _json_object(request.body)
    for key, value in (document or {}).items():
        if not _is_reference_key(key):
            continue
        for item in value if isinstance(value, list) else [value]:
            reference = _reference_in(item) if isinstance(item, str) else None
            if reference is not None:
                found.append(reference)
    return found


def _substitute(value: str, context: Mapping[str, str]) -> str:
    reference = _reference_in(value)
    if reference is None:
        return value
    if reference not in context:
        raise content_id_error(reference)
    return context[reference] + value[len(reference) + 1 :]


def resolve_references(request: SubRequest, context: Mapping[str, str]) -> SubRequest:
    """Replace `$n` in the URL and in bind values with the entity URL of request `n`."""
    if not _references(request):
        return request
    url = _substitute(request.url, context)
    body = request.body
    document = _json_object(body)
    if document is not None:
        for key, value in document.items():
            if not _is_reference_key(key):
                continue
            if isinstance(value, str):
                document[key] = _substitute(value, context)
            elif isinstance(value, list):
                document[key] = [
                    _substitute(v, context) if isinstance(v, str) else v for v in value
                ]
        body = json.dumps(document, ensure_ascii=False).encode()
    return SubRequest(request.method, url, request.headers, body, request.content_id)


def _entity_id(response: SubResponse) -> str | None:
    headers = Headers(response.headers)
    return headers.get("OData-EntityId") or headers.get("Location")


# --- execution and response ----------------------------------------------------------------------


class _ChangeSetFailed(Exception):
    """Raised inside `transaction()` so the caller's context manager rolls the change set back."""


async def _call(dispatch: Dispatch, request: SubRequest) -> SubResponse:
    try:
        return await dispatch(request)
    except DataverseError as error:
        return _error_response(error)


def _http_part(response: SubResponse, content_id: str | None) -> bytes:
    """One `application/http` body part: MIME headers, status line, headers, body."""
    mime = [b"Content-Type: application/http", b"Content-Transfer-Encoding: binary"]
    if content_id is not None:
        mime.append(f"Content-ID: {content_id}".encode("latin-1"))
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""
    header_lines = [(name, value) for name, value in response.headers.items()]
    if "OData-Version" not in Headers(response.headers):
        # Dataverse's order: Content-Type (if any), OData-Version, then the rest.
        at = 1 if header_lines and header_lines[0][0].lower() == "content-type" else 0
        header_lines.insert(at, ("OData-Version", "4.0"))
    lines = [f"HTTP/1.1 {response.status} {reason}".rstrip().encode("latin-1")]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in header_lines]
    return CRLF.join(mime) + CRLF + CRLF + CRLF.join(lines) + CRLF + CRLF + response.body + CRLF


async def _run_changeset(
    changeset: ChangeSet, dispatch: Dispatch, transaction: Transaction
) -> tuple[bytes, SubResponse | None]:
    """Run a change set atomically; return its response part and the failing response, if any."""
    context: dict[str, str] = {}
    done: list[tuple[SubRequest, SubResponse]] = []
    failure: SubResponse | None = None
    try:
        with transaction():
            for request in changeset.requests:
                try:
                    resolved = resolve_references(request, context)
                except DataverseError as error:
                    response = _error_response(error)
                else:
                    response = await _call(dispatch, resolved)
                if response.status >= 400:
                    failure = response
                    raise _ChangeSetFailed
                done.append((request, response))
                entity_id = _entity_id(response)
                if request.content_id is not None and entity_id:
                    context[request.content_id] = entity_id
    except _ChangeSetFailed:
        pass
    if failure is not None:
        # A failed change set answers with the failing request only, outside a change set part.
        return _http_part(failure, None), failure
    boundary = f"changesetresponse_{uuid.uuid4()}".encode()
    chunks = [b"Content-Type: multipart/mixed; boundary=" + boundary + CRLF + CRLF]
    for request, response in done:
        chunks.append(b"--" + boundary + CRLF + _http_part(response, request.content_id))
    chunks.append(b"--" + boundary + b"--" + CRLF)
    return b"".join(chunks), None


async def execute_batch(
    parts: Sequence[BatchRequest | ChangeSet],
    dispatch: Dispatch,
    *,
    continue_on_error: bool,
    transaction: Transaction,
) -> tuple[int, str, bytes]:
    """Run parsed batch parts in order and build Dataverse's multipart response.

    Returns (HTTP status, Content-Type, body). Change sets run inside `transaction()`; when one of
    their requests answers >= 400 an exception is raised inside that context (so it rolls back)
    and the change set is answered by that error alone. Stand-alone requests are dispatched as
    they are (`dispatch` makes each atomic on its own). A `DataverseError` raised by `dispatch`
    becomes that part's JSON error response.

    Without `continue_on_error` processing stops at the first failure and the batch answers with
    that failure's status (Microsoft's example: `HTTP/1.1 400 BadRequest`), the parts processed
    so far and the error part. With `Prefer: odata.continue-on-error` every part reports its own
    status and the batch answers 200.
    """
    boundary = f"batchresponse_{uuid.uuid4()}".encode()
    status = 200
    chunks: list[bytes] = []
    for part in parts:
        failure: SubResponse | None
        if isinstance(part, ChangeSet):
            chunk, failure = await _run_changeset(part, dispatch, transaction)
        else:
            try:
                response = await _call(dispatch, resolve_references(part, {}))
            except DataverseError as error:
                response = _error_response(error)
            chunk = _http_part(response, None)
            failure = response if response.status >= 400 else None
        chunks.append(b"--" + boundary + CRLF + chunk)
        if failure is not None and not continue_on_error:
            status = failure.status
            break
    chunks.append(b"--" + boundary + b"--" + CRLF)
    return status, f"multipart/mixed; boundary={boundary.decode()}", b"".join(chunks)
