"""IMS access tokens: JWTs carrying Adobe's claims (`created_at`/`expires_in` in milliseconds).

Signed with a key kept in the state dir; revoking every token rotates the key, so earlier
tokens stop validating at the gateway (401 `401013`), as after a revocation at Adobe.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt

from crm_sandbox.clock import Clock

from .config import Credential, credential


@dataclass(frozen=True)
class Grant:
    """What a valid access token stands for."""

    credential: Credential
    scopes: frozenset[str]
    expires_at: float  # epoch seconds


class TokenService:
    """Issues and validates IMS access tokens."""

    def __init__(self, key_file: Path, clock: Clock) -> None:
        """Load the signing key from `key_file` (created on first use)."""
        self.key_file = key_file
        self.clock = clock
        if key_file.exists():
            self.key = key_file.read_bytes()
        else:
            self.rotate()

    def rotate(self) -> None:
        """Take a new signing key: every token issued so far stops validating."""
        self.key = secrets.token_bytes(32)
        self.key_file.write_bytes(self.key)
        self.key_file.chmod(0o600)

    def issue(self, cred: Credential, scopes: list[str], lifetime: int) -> str:
        """Return a signed access token for `cred` with `scopes`, valid `lifetime` seconds."""
        now_ms = int(self.clock.time() * 1000)
        claims = {
            "id": f"{now_ms}_{uuid.uuid4()}_ue1",
            "type": "access_token",
            "client_id": cred.client_id,
            "user_id": cred.technical_account,
            "as": "ims-na1",
            "aa_id": cred.technical_account,
            "ctp": 0,
            "moi": uuid.uuid4().hex[:8],
            "org": cred.ims_org,
            "created_at": str(now_ms),
            "expires_in": str(lifetime * 1000),
            "scope": ",".join(scopes),
        }
        headers = {"x5u": "ims_na1-key-at-1.cer", "kid": "ims_na1-key-at-1", "itt": "at"}
        return jwt.encode(claims, self.key, algorithm="HS256", headers=headers)

    def validate(self, token: str) -> Grant | None:
        """Return the grant of a valid, unexpired token; None otherwise."""
        try:
            claims = jwt.decode(token, self.key, algorithms=["HS256"])
            cred = credential(str(claims["client_id"]))
            expires_at = (int(claims["created_at"]) + int(claims["expires_in"])) / 1000
        except (jwt.PyJWTError, KeyError, ValueError):
            return None
        if cred is None or claims.get("type") != "access_token" or expires_at <= self.clock.time():
            return None
        scopes = frozenset(s for s in str(claims.get("scope", "")).split(",") if s)
        return Grant(cred, scopes, expires_at)
