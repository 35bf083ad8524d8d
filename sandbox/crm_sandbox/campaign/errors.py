"""Error answers: the Adobe I/O gateway's `{"error_code", "message"}` and Campaign's own errors.

Campaign's application errors (RST-/XTK- texts) use `{"code", "message"}`, the envelope Adobe
documents for "Oops. Something went wrong"; validation failures are HTTP 500, as in Campaign.
"""

from __future__ import annotations

from typing import Any

RST = "RST-360011 An error has occurred - please contact your administrator."
OOPS = "Oops. Something went wrong. Check your URI and try again."


class CampaignError(Exception):
    """An HTTP error answer with its JSON body and extra headers."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        """Keep status, body and headers."""
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


def gateway_error(status: int, code: str, message: str, **headers: str) -> CampaignError:
    """Return an error of the Adobe I/O gateway in front of Campaign."""
    return CampaignError(status, {"error_code": code, "message": message}, headers)


def app_error(message: str, status: int = 500) -> CampaignError:
    """Return a Campaign application error, RST-360011-prefixed."""
    return CampaignError(status, {"code": status, "message": f"{RST} {message}"})


def not_found_uri() -> CampaignError:
    """Return a path Campaign does not know (bad tenant, resource or segment)."""
    return CampaignError(500, {"code": 500, "message": OOPS})


TOKEN_INVALID = ("401013", "Oauth token is not valid")
PROFILE_INVALID = ("403023", "Profile is not valid")
API_KEY_REQUIRED = ("403000", "Api Key is required")
API_KEY_INVALID = ("403003", "Api Key is invalid")
TOO_MANY = ("429050", "Too many requests")
