"""Hand-made HTTP responses for unit tests that need no server."""

from __future__ import annotations

import json

import requests


def response(
    status: int = 200,
    body: object = None,
    *,
    headers: dict[str, str] | None = None,
    url: str = "https://org.example/api/data/v9.2/contacts",
) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = json.dumps(body).encode() if body is not None else b""
    resp.headers.update(headers or {})
    resp.url = url
    resp.reason = "test"
    resp.request = requests.Request("GET", url).prepare()
    return resp
