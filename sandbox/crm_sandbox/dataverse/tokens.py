"""Access tokens: RS256 JWTs shaped like the v1 tokens Entra issues for Dataverse.

The signing key is kept in the state dir. Revoking every issued token rotates the key, which is
what makes old tokens fail signature validation at the API (as after a real key roll-over).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from crm_sandbox.clock import Clock

from .config import RegisteredApp


@dataclass(frozen=True)
class TokenProblem(Exception):
    """Why a bearer token was rejected (becomes the WWW-Authenticate error_description)."""

    description: str


class TokenService:
    """Issues and validates access tokens."""

    def __init__(self, key_file: Path, clock: Clock) -> None:
        """Load the signing key from `key_file` (created on first use)."""
        self.key_file = key_file
        self.clock = clock
        if key_file.exists():
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            self._set_key(key)
        else:
            self.rotate()

    def _set_key(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key
        public = key.public_key()
        der = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = hashlib.sha256(der).hexdigest()[:27]
        self.public_key = public

    def rotate(self) -> None:
        """Return new signing key: every token issued so far stops validating."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.key_file.chmod(0o600)
        self._set_key(key)

    def issue(self, app: RegisteredApp, resource: str, issuer: str, lifetime: int) -> str:
        """Return a signed access token for `app` to call `resource`."""
        now = int(self.clock.time())
        claims = {
            "aud": resource,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "aio": "sandbox",
            "appid": app.client_id,
            "appidacr": "1",
            "idp": issuer,
            "idtyp": "app",
            "oid": app.user_id,
            "sub": app.user_id,
            "tid": app.tenant_id,
            "uti": uuid.uuid4().hex[:22],
            "ver": "1.0",
        }
        headers = {"typ": "JWT", "kid": self.kid, "x5t": self.kid}
        return jwt.encode(claims, self.key, algorithm="RS256", headers=headers)

    def validate(self, token: str, resource: str, tenant_id: str) -> dict[str, Any]:
        """Claims of a valid token for `resource` in `tenant_id`; TokenProblem otherwise."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.public_key,
                algorithms=["RS256"],
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise TokenProblem("The access token signature is invalid.") from None
        except jwt.PyJWTError:
            raise TokenProblem("The access token is malformed.") from None
        if str(claims.get("aud", "")).rstrip("/") != resource.rstrip("/"):
            raise TokenProblem("The access token audience is not valid for this resource.")
        if claims.get("tid") != tenant_id:
            raise TokenProblem("The access token is from the wrong tenant.")
        if int(claims.get("exp", 0)) <= self.clock.time():
            raise TokenProblem("The access token is expired.")
        return claims

    def jwks(self) -> dict[str, Any]:
        """JSON Web Key Set of the current signing key."""
        jwk = RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        jwk.update({"kid": self.kid, "x5t": self.kid, "use": "sig"})
        return {"keys": [jwk]}
