"""Reads of many rows in one request: a GET, or a Web API `$batch` of stand-alone GETs.

A query whose URL would pass Dataverse's limit (about 32 KB) is split by the caller; the pieces
then travel together in one `POST $batch` (up to 1000 GET parts, each URL up to 64 KB). Dataverse
counts a batch as one request toward its service protection limit on the number of requests
(its execution time counts in full). Parts run in order; without `Prefer: odata.continue-on-error`
the batch stops at the first failing part and answers with its error, raised here as the
client's `DataverseAPIError` (429 and 5xx are retried by the client's policy).
"""

from __future__ import annotations

import typing as t
import uuid
from http import HTTPStatus
from urllib.parse import urlsplit

import msgspec

from dataverse_client.batch import (
    CRLF,
    MAX_OPERATIONS,
    OperationResponse,
    parse_response,
    part_error,
    post_batch,
)
from dataverse_client.client import DataverseAPIError

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from dataverse_client.client import DataverseClient

REQUEST = "POST $batch (GET parts)"


def build_get_batch(queries: Sequence[str], api_path: str, batch_id: str) -> bytes:
    """Return the body of a batch of one GET part per query (URL-encoded, relative to the API)."""
    lines: list[str] = []
    for query in queries:
        lines += [
            f"--batch_{batch_id}",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "",
            f"GET {api_path}{query} HTTP/1.1",
            "Accept: application/json",
            "",
            "",
        ]
    lines += [f"--batch_{batch_id}--", ""]
    return CRLF.join(lines).encode()


def _part_error(part: OperationResponse) -> DataverseAPIError:
    code, message = part_error(part)
    return DataverseAPIError(part.status, code, message, REQUEST)


def get_batch(client: DataverseClient, queries: Sequence[str]) -> list[dict[str, t.Any]]:
    """Run up to 1000 GET `queries` in one `$batch`; return the rows of all of them.

    Each query must fit in one page (at most 5000 rows): a part's `@odata.nextLink` is not
    followed.
    """
    if not 0 < len(queries) <= MAX_OPERATIONS:
        msg = f"a batch holds 1 to {MAX_OPERATIONS} GETs, got {len(queries)}"
        raise ValueError(msg)
    batch_id = uuid.uuid4().hex
    body = build_get_batch(queries, urlsplit(client.api_url).path, batch_id)
    send = client.retry.wrap(post_batch, on_backoff=client.log_backoff)
    response = send(client, body, f"batch_{batch_id}")
    parts = parse_response(response.headers.get("Content-Type", ""), response.content)
    failed = next((p for p in parts if p.status >= HTTPStatus.BAD_REQUEST), None)
    if failed is not None:
        raise _part_error(failed)
    if len(parts) != len(queries):
        msg = f"$batch answered {len(parts)} parts for {len(queries)} GETs"
        raise DataverseAPIError(response.status_code, "", msg, REQUEST)
    return [row for part in parts for row in msgspec.json.decode(part.body).get("value", ())]


def read_rows(client: DataverseClient, queries: Sequence[str]) -> list[dict[str, t.Any]]:
    """Return the rows of all `queries`: one GET when there is one, else a `$batch` per 1000."""
    if len(queries) == 1:
        return list(client.iter_values(queries[0]))
    rows: list[dict[str, t.Any]] = []
    for start in range(0, len(queries), MAX_OPERATIONS):
        rows += get_batch(client, queries[start : start + MAX_OPERATIONS])
    return rows
