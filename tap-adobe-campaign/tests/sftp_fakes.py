"""Export files as the contract writes them, keys, and a fake SFTP client (no server)."""

from __future__ import annotations

import errno
import io
import stat
import typing as t

import paramiko
from campaign_client.optouts import FLAGS
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from tap_adobe_campaign.optout_export import COLUMNS

from .journal_fakes import CONFIG

HEADER = ",".join(COLUMNS)


def key_pair() -> tuple[str, str]:
    """A new Ed25519 key: (OpenSSH private key text, OpenSSH public key line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public.decode() + " sandbox@host"


PRIVATE_KEY, HOST_KEY = key_pair()
SFTP_CONFIG = {
    **CONFIG,
    "sftp_host": "sftp.test",
    "sftp_port": 2222,
    "sftp_username": "campaign-sftp",
    "sftp_password": "pw",
    "sftp_host_key": HOST_KEY,
    "opt_out_sync": "bidirectional",
}
T1 = "2026-11-20 10:00:00.000Z"
T2 = "2026-11-21 08:30:15.250Z"


def row(pkey: str, external_id: str = "", *, email: str = "", **flags: t.Any) -> str:
    """One CSV line: flags given as `blackListEmail=(1, T1)` or `blackListEmail=1`."""
    cells = [pkey, external_id, email, T1]
    for flag in FLAGS:
        value = flags.get(flag, ("0", ""))
        value, when = value if isinstance(value, tuple) else (value, "")
        cells += [str(value), when]
    return ",".join(cells)


def export(*rows: str) -> bytes:
    """A whole export file."""
    return "".join(line + "\n" for line in (HEADER, *rows)).encode()


class _Remote(io.BytesIO):
    def __init__(self, data: bytes, drop_after: int | None) -> None:
        super().__init__(data)
        self._size = len(data)
        self._drop_after = drop_after

    def stat(self) -> paramiko.SFTPAttributes:
        attrs = paramiko.SFTPAttributes()
        attrs.st_size = self._size
        return attrs

    def prefetch(self, file_size: int | None = None) -> None:
        pass

    def read(self, size: int | None = -1) -> bytes:
        """Read; with `drop_after`, the connection drops once that many bytes are read."""
        if self._drop_after is not None:
            if self.tell() >= self._drop_after:
                raise EOFError("connection dropped")
            size = min(size if size and size > 0 else self._size, self._drop_after - self.tell())
        return super().read(size)


class FakeSFTP:
    """One connection: serves `files` of the folder; may fail (shared `faults` list)."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server

    def _fault(self) -> None:
        if self.server.faults:
            raise self.server.faults.pop(0)

    def listdir_attr(self, path: str) -> list[paramiko.SFTPAttributes]:
        self._fault()
        if path != self.server.directory:
            raise OSError(errno.ENOENT, "No such file")
        entries = []
        for name, data in self.server.files.items():
            attrs = paramiko.SFTPAttributes()
            attrs.filename, attrs.st_size, attrs.st_mode = name, len(data), stat.S_IFREG | 0o644
            entries.append(attrs)
        return entries

    def open(self, path: str, mode: str = "r") -> _Remote:
        self._fault()
        name = path.rpartition("/")[2]
        self.server.opened.append(name)
        drop = self.server.drop_after.pop(name, None)
        return _Remote(self.server.files[name], drop)

    def get_channel(self) -> None:
        return None

    def close(self) -> None:
        self.server.closed += 1


class FakeServer:
    """What the fake connections serve and how they fail."""

    def __init__(self, files: dict[str, bytes], directory: str = "d365_loads/exports") -> None:
        self.files = files
        self.directory = directory
        self.faults: list[Exception] = []
        self.drop_after: dict[str, int] = {}
        self.opened: list[str] = []
        self.connections = 0
        self.closed = 0

    def __call__(self, settings: t.Any) -> FakeSFTP:
        self.connections += 1
        return t.cast("FakeSFTP", FakeSFTP(self))
