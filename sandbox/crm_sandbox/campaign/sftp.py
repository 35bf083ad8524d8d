"""The Campaign SFTP storage area: a real SSH/SFTP server (asyncssh) on its own port.

One login (`campaign-sftp` / `sandbox-sftp-secret`, or a public key listed in
`<state dir>/campaign-sftp-authorized_keys`) chrooted to `<state dir>/campaign-sftp`. The
storage area is Campaign's drop folder for the D365 integration: clients may list, stat, read
and remove files; they may write (create, write, rename within, mkdir/rmdir, setstat) only
inside `d365_loads/imports`, the import workflows' inbox ([design]); every other write and all
links are refused with SFTP "permission denied". Shell, exec, SCP and port forwarding are not
offered. The ed25519
host key is written once per state dir (`campaign-sftp-host-key`) and published as an OpenSSH
public key line, so clients can pin it. Like the sandbox's other test credentials it is the same
everywhere (derived from a fixed seed): meltano.yml's `dev` environment pins it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
from pathlib import Path

import asyncssh
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .config import IMPORTS_DIR, SFTP_PASSWORD, SFTP_USERNAME

HOST_KEY_FILE = "campaign-sftp-host-key"
#: Seed of the sandbox's fixed host key (a public test value, like its client secrets).
HOST_KEY_SEED = hashlib.sha256(b"crm-sandbox campaign sftp host key").digest()
AUTHORIZED_KEYS_FILE = "campaign-sftp-authorized_keys"

_WRITE_FLAGS = asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC
_WRITE_ACCESS = asyncssh.ACE4_WRITE_DATA | asyncssh.ACE4_APPEND_DATA


def host_key(state_dir: Path) -> asyncssh.SSHKey:
    """Load the host key, writing the fixed sandbox key on first use (private, mode 0600)."""
    path = state_dir / HOST_KEY_FILE
    if not path.exists():
        key = Ed25519PrivateKey.from_private_bytes(HOST_KEY_SEED)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
        )
        tmp.chmod(0o600)
        tmp.replace(path)
    return asyncssh.read_private_key(path)


def public_key_line(key: asyncssh.SSHKey) -> str:
    """`ssh-ed25519 AAAA…` (no comment): what `sftp_host_key` settings hold."""
    return " ".join(key.export_public_key("openssh").decode("ascii").split()[:2])


def authorize_key(state_dir: Path, public_key: str) -> None:
    """Allow a client public key (OpenSSH line) for the SFTP login; invalid keys raise."""
    line = " ".join(asyncssh.import_public_key(public_key).export_public_key().decode().split()[:2])
    path = state_dir / AUTHORIZED_KEYS_FILE
    known = path.read_text().splitlines() if path.exists() else []
    if line not in known:
        path.write_text("".join(f"{k}\n" for k in [*known, line]))


def _denied() -> asyncssh.SFTPPermissionDenied:
    return asyncssh.SFTPPermissionDenied("The storage area is read-only for this login")


class _Auth(asyncssh.SSHServer):
    """Password or authorized public key, for the one login."""

    def __init__(self, state_dir: Path) -> None:
        self._keys_file = state_dir / AUTHORIZED_KEYS_FILE

    def begin_auth(self, username: str) -> bool:
        return True  # every user must authenticate

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return hmac.compare_digest(username.encode(), SFTP_USERNAME.encode()) & hmac.compare_digest(
            password.encode(), SFTP_PASSWORD.encode()
        )

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if username != SFTP_USERNAME or not self._keys_file.exists():
            return False
        offered = public_key_line(key)
        return offered in self._keys_file.read_text().splitlines()


class DropFolder(asyncssh.SFTPServer):
    """SFTP session chrooted to the storage area; writes only inside the imports folder."""

    def __init__(self, chan: asyncssh.SSHServerChannel, root: Path) -> None:
        super().__init__(chan, chroot=str(root).encode())
        self._inbox = root / IMPORTS_DIR

    def _check(self, *paths: bytes) -> None:
        """Refuse unless every path lies strictly inside the imports folder."""
        for path in paths:
            local = Path(os.fsdecode(self.map_path(path)))
            if local == self._inbox or not local.is_relative_to(self._inbox):
                raise _denied()

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if pflags & _WRITE_FLAGS:
            self._check(path)
        return super().open(path, pflags, attrs)

    def open56(
        self, path: bytes, desired_access: int, flags: int, attrs: asyncssh.SFTPAttrs
    ) -> object:
        if desired_access & _WRITE_ACCESS:
            self._check(path)
        return super().open56(path, desired_access, flags, attrs)

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self._check(path)
        super().mkdir(path, attrs)

    def rmdir(self, path: bytes) -> None:
        self._check(path)
        super().rmdir(path)

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._check(oldpath, newpath)
        super().rename(oldpath, newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._check(oldpath, newpath)
        super().posix_rename(oldpath, newpath)

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self._check(path)
        super().setstat(path, attrs)

    def lsetstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self._check(path)
        super().lsetstat(path, attrs)

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> None:
        raise _denied()  # [design] the handle's path is not known here; use setstat

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise _denied()

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise _denied()


async def start_server(
    sock: socket.socket, state_dir: Path, root: Path, key: asyncssh.SSHKey
) -> asyncssh.SSHAcceptor:
    """Serve SFTP on the bound socket `sock` until the returned acceptor is closed."""
    root.mkdir(parents=True, exist_ok=True)
    return await asyncssh.listen(
        sock=sock,
        server_factory=lambda: _Auth(state_dir),
        server_host_keys=[key],
        sftp_factory=lambda chan: DropFolder(chan, root),
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
    )
