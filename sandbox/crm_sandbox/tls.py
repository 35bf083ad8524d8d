"""A local certificate authority and a server certificate for `localhost`, kept in the state dir.

MSAL only accepts https authorities, so both emulated services speak TLS. The CA is generated once
(trustme) and persisted, so clients started later (the tap under Meltano, `requests`, curl) can be
pointed at `ca.pem` with `verify=`/`REQUESTS_CA_BUNDLE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme

HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the PEM files a server and its clients need."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def ensure_certificates(state_dir: Path) -> TlsFiles:
    """Return the CA and server certificate in `state_dir`, creating them on first use."""
    state_dir.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_file=state_dir / "ca.pem",
        cert_file=state_dir / "server-cert.pem",
        key_file=state_dir / "server-key.pem",
    )
    if all(p.exists() for p in (files.ca_file, files.cert_file, files.key_file)):
        return files
    ca = trustme.CA(organization_name="crm-sandbox local CA")
    server = ca.issue_cert(*HOSTS)
    ca.cert_pem.write_to_path(str(files.ca_file))
    server.private_key_pem.write_to_path(str(files.key_file))
    # Leaf first, then the CA, so the server presents the full chain.
    with files.cert_file.open("wb") as handle:
        for blob in server.cert_chain_pems:
            handle.write(blob.bytes())
    files.key_file.chmod(0o600)
    return files
