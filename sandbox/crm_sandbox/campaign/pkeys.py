"""Opaque, authenticated tokens: record PKeys and `_lineStart` positions.

Both look like Adobe's (`@` + URL-safe base64): a 12-byte HMAC tag followed by the payload XORed
with a key stream derived from the tag. They are stable for a given payload (a row keeps its
PKey), reveal nothing sequential, and cannot be forged or edited without the state dir's secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from pathlib import Path

_TAG = 12
_PKEY = struct.Struct(">BQ")  # resource code, row id


class Sealer:
    """Seals and opens byte payloads with a secret kept in the state dir."""

    def __init__(self, secret_file: Path) -> None:
        """Load the secret from `secret_file`, creating it on first use."""
        if not secret_file.exists():
            secret_file.write_bytes(secrets.token_bytes(32))
            secret_file.chmod(0o600)
        self.secret = secret_file.read_bytes()

    def _mask(self, tag: bytes, data: bytes) -> bytes:
        """XOR `data` with the key stream of `tag` (its own inverse)."""
        stream = hashlib.shake_256(self.secret + tag).digest(len(data))
        mixed = int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")
        return mixed.to_bytes(len(data), "big")

    def seal(self, purpose: bytes, payload: bytes) -> str:
        """Return `@…` for `payload`; `purpose` separates PKeys from paging tokens."""
        tag = hmac.digest(self.secret, purpose + payload, "sha256")[:_TAG]
        masked = self._mask(tag, payload)
        return "@" + base64.urlsafe_b64encode(tag + masked).rstrip(b"=").decode("ascii")

    def open(self, purpose: bytes, token: str) -> bytes | None:
        """Return the payload of a token sealed for `purpose` (None: forged, edited, malformed)."""
        if not token.startswith("@") or len(token) < 18:
            return None
        text = token[1:]
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return None
        tag, masked = raw[:_TAG], raw[_TAG:]
        payload = self._mask(tag, masked)
        expected = hmac.digest(self.secret, purpose + payload, "sha256")[:_TAG]
        return payload if hmac.compare_digest(tag, expected) else None

    def pkey(self, code: int, row_id: int) -> str:
        """PKey of row `row_id` of the resource with code `code`."""
        return self.seal(b"pkey", _PKEY.pack(code, row_id))

    def row_of(self, pkey: str) -> tuple[int, int] | None:
        """(resource code, row id) of a PKey, or None when it is not one of ours."""
        payload = self.open(b"pkey", pkey)
        if payload is None or len(payload) != _PKEY.size:
            return None
        code, row_id = _PKEY.unpack(payload)
        return int(code), int(row_id)
