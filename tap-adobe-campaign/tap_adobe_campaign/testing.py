"""An in-process stand-in for IMS and the Campaign REST API, for unit tests without a server.

Mount it on a client's sessions (`FakeCampaign.install(client)`); it answers in Campaign's
shapes (opaque PKeys, `next.href` paging, `{"code","message"}` errors) and records every
request. Faults are scripted with `fail_next`. The real emulator lives in crm-sandbox.
"""

from __future__ import annotations

import base64
import itertools
import json
import typing as t
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_adobe_campaign.client import CampaignClient

GENDERS = ("unknown", "male", "female")


@dataclass
class Fault:
    """A scripted answer for the next request matching `method` (and `path_contains`)."""

    method: str
    status: int = 503
    body: dict[str, t.Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    path_contains: str = "/campaign/"
    exception: Exception | None = None
    apply_first: bool = False  # run the request, then answer with the fault (lost response)


class FakeCampaign(BaseAdapter):
    """IMS + gateway + `profileAndServices(Ext)`/`cus*` resources, in memory."""

    def __init__(
        self,
        *,
        organization: str = "test-org",
        api_base_url: str = "https://campaign.test",
        ims_url: str = "https://ims.test",
        client_id: str = "client",
        client_secret: str = "secret",
        expires_in: int = 86399,
    ) -> None:
        """Start empty; every resource is created on first write."""
        super().__init__()
        self.api_base_url = api_base_url
        self.ims_url = ims_url
        self.api_prefix = f"/{organization}/campaign/"
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.records: dict[str, dict[str, dict[str, t.Any]]] = {}
        self.valid_tokens: set[str] = set()
        self.tokens_issued = 0
        self.requests: list[tuple[str, str, t.Any]] = []
        self.faults: list[Fault] = []
        self._ids = itertools.count(1)

    # --- test controls --------------------------------------------------------------------

    def install(self, client: CampaignClient) -> FakeCampaign:
        """Answer every request of `client` (API and IMS)."""
        client.session.mount(self.api_base_url, self)
        client.authenticator._http.mount(self.ims_url, self)
        return self

    def fail_next(self, fault: Fault) -> None:
        """Script the answer to the next matching request."""
        self.faults.append(fault)

    def revoke_tokens(self) -> None:
        """Make every issued token invalid (the next API call gets 401)."""
        self.valid_tokens.clear()

    def add(self, resource: str, **values: t.Any) -> dict[str, t.Any]:
        """Create a record directly (not counted as a request)."""
        return self._create(resource, values)

    def writes(self) -> list[tuple[str, str, t.Any]]:
        """Return the requests that change data (POST/PATCH/DELETE on the API)."""
        return [
            r for r in self.requests if r[0] in {"POST", "PATCH", "DELETE"} and "/ims/" not in r[1]
        ]

    # --- transport ------------------------------------------------------------------------

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:  # type: ignore[override]
        """Answer one request."""
        url = urlsplit(request.url or "")
        body = request.body
        if isinstance(body, bytes):
            body = body.decode()
        method = request.method or "GET"
        self.requests.append((method, request.url or "", body))
        fault = next(
            (f for f in self.faults if f.method == method and f.path_contains in url.path), None
        )
        if fault:
            self.faults.remove(fault)
            if fault.apply_first:
                self._route(method, url, body, request.headers)
            if fault.exception:
                raise fault.exception
            return self._response(request, fault.status, fault.body, fault.headers)
        status, payload = self._route(method, url, body, request.headers)
        return self._response(request, status, payload)

    def close(self) -> None:
        """Nothing to release."""

    def _response(
        self,
        request: requests.PreparedRequest,
        status: int,
        payload: t.Any,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(payload).encode() if payload is not None else b""
        response.headers.update({"Content-Type": "application/json", **(headers or {})})
        response.url = request.url or ""
        response.request = request
        response.reason = "fake"
        response.connection = self  # type: ignore[assignment]  # as HTTPAdapter does
        return response

    # --- routing --------------------------------------------------------------------------

    def _route(
        self, method: str, url: t.Any, body: str | None, headers: Mapping[str, str]
    ) -> tuple[int, t.Any]:
        if url.path == "/ims/token/v3":
            return self._token(body or url.query)
        if headers.get("Authorization", "").removeprefix("Bearer ") not in self.valid_tokens:
            return 401, {"error_code": "401013", "message": "Oauth token is not valid"}
        if headers.get("X-Api-Key") != self.client_id:
            return 403, {"error_code": "403003", "message": "Api Key is invalid"}
        if not url.path.startswith(self.api_prefix):
            return 500, {"code": 500, "message": "Oops. Something went wrong."}
        parts = url.path[len(self.api_prefix) :].strip("/").split("/")
        resource, rest = "/".join(parts[:2]), parts[2:]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        data = json.loads(body) if body else {}
        if method == "GET" and not rest:
            return 200, self._list(resource, query, list(self.records.get(resource, {}).values()))
        if method == "GET" and rest[0].startswith("by"):
            ((param, value),) = [(k, v) for k, v in query.items() if not k.startswith("_")]
            field_name = param.removesuffix("_parameter")
            matches = [
                r for r in self.records.get(resource, {}).values() if r.get(field_name) == value
            ]
            return 200, self._list(resource, query, matches)
        if method == "POST" and not rest:
            error = self._validate(data)
            return error or (201, self._create(resource, data))
        record = self.records.get(resource, {}).get(rest[0]) if rest else None
        if record is None:
            return 404, {"code": 404, "message": f"RST-360011 Unable to find '{rest}'"}
        if method == "GET":
            return 200, record
        if method == "PATCH":
            error = self._validate(data)
            if error:
                return error
            record.update(data)
            return 200, {"PKey": record["PKey"], "href": record["href"]}
        del self.records[resource][rest[0]]
        return 200, None

    def _token(self, form: str) -> tuple[int, t.Any]:
        params = {k: v[0] for k, v in parse_qs(form).items()}
        if (
            params.get("grant_type") != "client_credentials"
            or params.get("client_id") != self.client_id
            or params.get("client_secret") != self.client_secret
        ):
            return 401, {"error": "invalid_client", "error_description": "invalid client"}
        self.tokens_issued += 1
        token = f"token-{self.tokens_issued}"
        self.valid_tokens.add(token)
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": self.expires_in}

    def _validate(self, data: Mapping[str, t.Any]) -> tuple[int, t.Any] | None:
        gender = data.get("gender")
        if gender is not None and gender not in GENDERS:
            message = (
                "RST-360011 An error has occurred - please contact your administrator. The value "
                f"'{gender}' is not valid for the 'nms:recipient:gender' enumeration of the "
                "'@gender' field"
            )
            return 500, {"code": 500, "message": message}
        return None

    def _create(self, resource: str, data: Mapping[str, t.Any]) -> dict[str, t.Any]:
        pkey = "@" + base64.urlsafe_b64encode(f"{resource}:{next(self._ids)}".encode()).decode()
        record = {
            "PKey": pkey,
            "href": f"{self.api_base_url}{self.api_prefix}{resource}/{pkey}",
            **data,
        }
        self.records.setdefault(resource, {})[pkey] = record
        return record

    def _list(
        self, resource: str, query: Mapping[str, str], rows: list[dict[str, t.Any]]
    ) -> dict[str, t.Any]:
        start = int(query.get("_lineStart", "@0")[1:])
        count = int(query.get("_lineCount", "25"))
        page: dict[str, t.Any] = {"content": rows[start : start + count]}
        if start + count < len(rows):
            rest = "&".join(f"{k}={v}" for k, v in query.items() if k != "_lineStart")
            # relative to the API root, as in Adobe's older samples
            page["next"] = {"href": f"/{resource}?{rest}&_lineStart=@{start + count}"}
        return page
