"""SFTP transport to a Campaign instance's SFTP storage area: pinned host key, retries.

Shared by tap-adobe-campaign (it reads the opt-out export files) and target-adobe-campaign (it
writes bulk import files and reads the import workflows' rejects). The server's host key must
be configured (`sftp_host_key`, an OpenSSH public key line): an unknown or different key is
refused, there is no trust on first use, and the user's `~/.ssh/known_hosts`, SSH agent and key
files are never consulted.

Transient failures (connection refused/reset, timeouts, a dropped session) are retried with
the REST client's backoff policy (`max_retry_seconds`, exponential waits with jitter); every retry
opens a new connection, an interrupted download goes on from the bytes it already has, and an
interrupted upload starts again (files are written as `<name>.part` and renamed once complete,
so a reader never sees half a file). A refused host key, refused credentials or a missing
directory fail at once.
"""

from __future__ import annotations

import base64
import binascii
import errno
import io
import logging
import stat
import typing as t
from dataclasses import dataclass, field

import backoff
import paramiko

from campaign_client.client import DEFAULT_MAX_RETRY_SECONDS, RetryPolicy

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from backoff.types import Details

DEFAULT_PORT = 22
#: Bytes asked per read of a remote file (paramiko pipelines them with prefetch).
_BLOCK = 1 << 20
#: SFTP answers that no retry can change.
_PERMANENT_ERRNOS = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.ENOTDIR})


class SFTPConfigError(ValueError):
    """A setting that cannot work: unparsable host key or private key."""


class HostKeyError(Exception):
    """The server did not present the configured host key (never retried)."""


class SFTPError(Exception):
    """The SFTP storage refused an operation (credentials, missing folder or file)."""


def parse_host_key(line: str) -> paramiko.PKey:
    """Parse an OpenSSH public key line (`ssh-ed25519 AAAA… [comment]`)."""
    parts = line.split()
    if len(parts) < 2:  # type and base64 blob
        msg = "sftp_host_key must be an OpenSSH public key line: '<type> <base64> [comment]'"
        raise SFTPConfigError(msg)
    key_type, blob = parts[0], parts[1]
    try:
        return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob, validate=True))
    except (binascii.Error, paramiko.SSHException, ValueError) as exc:
        msg = f"sftp_host_key is not a valid {key_type} public key: {exc}"
        raise SFTPConfigError(msg) from exc


def parse_private_key(text: str) -> paramiko.PKey:
    """Parse an unencrypted private key in OpenSSH or PEM format (Ed25519, ECDSA or RSA)."""
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    msg = "sftp_private_key is not an unencrypted Ed25519, ECDSA or RSA private key"
    raise SFTPConfigError(msg)


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's `SHA256:…` fingerprint of a key."""
    return str(key.fingerprint)


@dataclass(frozen=True)
class SFTPSettings:
    """Where and how to log in (the `sftp_*` settings, `campaign_client.settings`)."""

    host: str
    username: str
    host_key: paramiko.PKey
    port: int = DEFAULT_PORT
    password: str | None = field(default=None, repr=False)
    private_key: paramiko.PKey | None = field(default=None, repr=False)
    timeout: float = 300
    max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS
    max_retries: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> SFTPSettings:
        """Read `sftp_*`, `request_timeout` and the retry budget."""
        private_key = config.get("sftp_private_key")
        return cls(
            host=config["sftp_host"],
            username=config["sftp_username"],
            host_key=parse_host_key(config["sftp_host_key"]),
            port=int(config.get("sftp_port") or DEFAULT_PORT),
            password=config.get("sftp_password") or None,
            private_key=parse_private_key(private_key) if private_key else None,
            timeout=float(config.get("request_timeout", 300)),
            max_retry_seconds=float(config.get("max_retry_seconds", DEFAULT_MAX_RETRY_SECONDS)),
            max_retries=config.get("max_retries"),
        )

    @property
    def known_hosts_name(self) -> str:
        """The host as `known_hosts` names it: `host`, or `[host]:port` off port 22."""
        return self.host if self.port == DEFAULT_PORT else f"[{self.host}]:{self.port}"


class _RefuseUnknownKey(paramiko.MissingHostKeyPolicy):
    """The server offered a key of another type than the configured one: refuse it."""

    def __init__(self, expected: paramiko.PKey) -> None:
        self._expected = expected

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        msg = (
            f"SFTP server {hostname} presented a {key.get_name()} host key "
            f"({fingerprint(key)}), not the configured {self._expected.get_name()} key "
            f"({fingerprint(self._expected)}): refused (check sftp_host_key)"
        )
        raise HostKeyError(msg)


def connect(settings: SFTPSettings) -> paramiko.SFTPClient:
    """Open an SSH connection (configured host key only) and an SFTP session on it."""
    ssh = paramiko.SSHClient()
    ssh.get_host_keys().add(
        settings.known_hosts_name, settings.host_key.get_name(), settings.host_key
    )
    ssh.set_missing_host_key_policy(_RefuseUnknownKey(settings.host_key))
    try:
        ssh.connect(
            settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            pkey=settings.private_key,
            timeout=settings.timeout,
            banner_timeout=settings.timeout,
            auth_timeout=settings.timeout,
            channel_timeout=settings.timeout,
            allow_agent=False,
            look_for_keys=False,
        )
    except paramiko.BadHostKeyException as exc:
        ssh.close()
        msg = (
            f"SFTP server {settings.known_hosts_name} presented host key "
            f"{fingerprint(exc.key)}, not the configured {fingerprint(settings.host_key)}: "
            "refused (check sftp_host_key)"
        )
        raise HostKeyError(msg) from exc
    except paramiko.AuthenticationException as exc:
        ssh.close()
        msg = f"SFTP server {settings.known_hosts_name} refused user {settings.username}: {exc}"
        raise SFTPError(msg) from exc
    except BaseException:
        ssh.close()
        raise
    try:
        sftp = ssh.open_sftp()
    except BaseException:
        ssh.close()
        raise
    sftp.get_channel().settimeout(settings.timeout)  # type: ignore[union-attr]
    return sftp


def is_transient(exc: Exception) -> bool:
    """Whether a retry (on a new connection) can succeed."""
    if isinstance(exc, paramiko.ssh_exception.IncompatiblePeer):
        return False
    if isinstance(exc, OSError) and exc.errno in _PERMANENT_ERRNOS:
        return False
    return isinstance(exc, OSError | EOFError | paramiko.SSHException)


class RemoteFolder:
    """One folder of the SFTP storage: list, download, upload (atomically), remove; retried.

    Connects lazily; after a transient failure the connection is dropped and the retry opens
    a new one. Use as a context manager, or call `close()`.
    """

    def __init__(
        self,
        settings: SFTPSettings,
        directory: str,
        *,
        logger: logging.Logger | None = None,
        opener: Callable[[SFTPSettings], paramiko.SFTPClient] = connect,
        policy: RetryPolicy | None = None,
    ) -> None:
        """`directory`: relative to the login's root; `opener` connects (tests pass a fake)."""
        self.settings = settings
        self.directory = directory.rstrip("/")
        self.logger = logger or logging.getLogger(__name__)
        self._opener = opener
        self._sftp: paramiko.SFTPClient | None = None
        self.policy = policy or RetryPolicy(
            max_retry_seconds=settings.max_retry_seconds, max_retries=settings.max_retries
        )

    def __enter__(self) -> t.Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def where(self) -> str:
        """`host:directory` (`[host]:port:directory` off port 22), for messages."""
        return f"{self.settings.known_hosts_name}:{self.directory}"

    def path(self, name: str) -> str:
        """Return the path of a file of the folder, as the SFTP login sees it."""
        return f"{self.directory}/{name}"

    def close(self) -> None:
        """Close the SFTP session and its SSH connection."""
        if self._sftp is not None:
            sftp, self._sftp = self._sftp, None
            channel = sftp.get_channel()
            sftp.close()
            if channel is not None:
                channel.get_transport().close()

    def _client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self._opener(self.settings)
        return self._sftp

    def _retried(self, operation: str, func: Callable[[], t.Any]) -> t.Any:
        def on_backoff(details: Details) -> None:
            self.close()
            self.logger.warning(
                "SFTP %s failed (attempt %d), reconnecting in %.1f s: %r",
                operation,
                details["tries"],
                details["wait"],
                details.get("exception"),
            )

        def attempt() -> t.Any:
            try:
                return func()
            except Exception as exc:
                if is_transient(exc):
                    raise
                self.close()
                if isinstance(exc, OSError):
                    msg = f"SFTP {operation}: {exc.strerror or exc}"
                    raise SFTPError(msg) from exc
                raise

        retried = backoff.on_exception(
            self.policy.wait_generator,
            (OSError, EOFError, paramiko.SSHException),
            max_tries=self.policy.max_tries,
            giveup=lambda exc: not is_transient(exc),
            jitter=None,
            on_backoff=on_backoff,
            logger=None,
        )(attempt)
        try:
            return retried()
        except Exception:
            self.close()
            raise

    def list_files(self, pattern: t.Callable[[str], bool]) -> list[str]:
        """Names of the regular files in the folder that `pattern` accepts, sorted."""
        where = f"listing {self.directory}"

        def listing() -> list[str]:
            entries = self._client().listdir_attr(self.directory)
            return sorted(
                e.filename
                for e in entries
                if e.st_mode is not None and stat.S_ISREG(e.st_mode) and pattern(e.filename)
            )

        return t.cast("list[str]", self._retried(where, listing))

    def download(self, name: str, destination: t.BinaryIO) -> int:
        """Copy a file of the folder into `destination`; return its size.

        A retry after a dropped connection goes on from what `destination` already holds.
        """
        path = self.path(name)
        start = destination.tell()

        def copy() -> int:
            with self._client().open(path, "rb") as remote:
                size = remote.stat().st_size or 0
                offset = destination.tell() - start
                remote.seek(offset)
                remote.prefetch(size)
                while chunk := remote.read(_BLOCK):
                    destination.write(chunk)
                return size

        size = t.cast("int", self._retried(f"reading {path}", copy))
        copied = destination.tell() - start
        if copied != size:
            msg = f"SFTP reading {path}: got {copied} of {size} bytes"
            raise SFTPError(msg)
        return size

    def upload(self, name: str, source: t.BinaryIO) -> str:
        """Write `source` (from its start) as `name`: `<name>.part`, then renamed; its path.

        A retry after a dropped connection writes the part file again from the start.
        """
        path = self.path(name)
        part = f"{path}.part"

        def copy() -> int:
            source.seek(0)
            sftp = self._client()
            with sftp.open(part, "wb") as remote:
                remote.set_pipelined(True)
                while chunk := source.read(_BLOCK):
                    remote.write(chunk)
            sftp.posix_rename(part, path)
            return 0

        self._retried(f"writing {path}", copy)
        return path

    def remove(self, name: str) -> None:
        """Delete a file of the folder (a file already gone is no error)."""
        path = self.path(name)

        def unlink() -> None:
            try:
                self._client().remove(path)
            except FileNotFoundError:
                return

        self._retried(f"removing {path}", unlink)
