"""A `requests` transport adapter serving canned responses: unit tests without a server."""

from __future__ import annotations

import json
import typing as t
from collections import deque
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter

#: (status, headers, body); body is JSON-encoded unless it is bytes.
Reply = tuple[int, dict[str, str], t.Any]
Handler = t.Callable[[requests.PreparedRequest], Reply]


class FakeAdapter(BaseAdapter):
    """Answers by URL path: a handler function, or a queue of replies (last one repeats)."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[str, Handler | deque[Reply]] = {}
        self.sent: list[requests.PreparedRequest] = []

    def route(self, path: str, *replies: Reply | Handler) -> None:
        if len(replies) == 1 and callable(replies[0]):
            self.routes[path] = replies[0]
        else:
            self.routes[path] = deque(t.cast("tuple[Reply, ...]", replies))

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        self.sent.append(request)
        path = urlsplit(request.url or "").path
        target = self.routes.get(path)
        if target is None:
            status, headers, body = 404, {}, {"message": f"no route {path}"}
        elif callable(target):
            status, headers, body = target(request)
        else:
            status, headers, body = target.popleft() if len(target) > 1 else target[0]
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
        if status == 204:
            response._content = b""
        response.url = request.url or ""
        response.request = request
        response.reason = "fake"
        return response

    def close(self) -> None:
        pass


def query(request: requests.PreparedRequest) -> dict[str, str]:
    """The request's query parameters (last value wins)."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(request.url or "").query).items()}
