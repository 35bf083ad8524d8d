"""The Campaign SFTP storage area, driven by a real SSH client (paramiko), host key pinned."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import paramiko
import pytest
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.seed import SeedSizes
from crm_sandbox.campaign.sftp import HOST_KEY_FILE

from .conftest import serve_campaign

EXPORTS = "d365_loads/exports"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(40, projects=0))


def pinned_client(info: dict, host_key: str | None = None) -> paramiko.SSHClient:
    """An SSH client that knows only the given host key line (default: the published one)."""
    key_type, blob = (host_key or info["sftp_host_key"]).split()[:2]
    client = paramiko.SSHClient()
    key = paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))
    client.get_host_keys().add(f"[{info['sftp_host']}]:{info['sftp_port']}", key_type, key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def connect(
    info: dict,
    *,
    username: str | None = None,
    password: str | None = None,
    pkey: paramiko.PKey | None = None,
) -> paramiko.SSHClient:
    """Log in (default: the published user and password), trusting only the published key."""
    client = pinned_client(info)
    client.connect(
        info["sftp_host"],
        info["sftp_port"],
        username=username or info["sftp_username"],
        password=password if password or pkey else info["sftp_password"],
        pkey=pkey,
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client


@pytest.fixture
def sftp(campaign: RunningCampaign) -> Iterator[paramiko.SFTPClient]:
    client = connect(campaign.info)
    try:
        yield client.open_sftp()
    finally:
        client.close()


def test_endpoint_facts_are_published(campaign: RunningCampaign) -> None:
    info = campaign.info
    assert info["sftp_host"] == "127.0.0.1"
    assert isinstance(info["sftp_port"], int)
    assert info["sftp_port"] > 0
    assert (info["sftp_username"], info["sftp_password"]) == (
        "campaign-sftp",
        "sandbox-sftp-secret",
    )
    assert info["opt_out_exports_dir"] == EXPORTS
    key_type, blob = info["sftp_host_key"].split(" ")
    assert key_type == "ssh-ed25519"
    stored = asyncssh.read_private_key(Path(campaign.options.state_dir) / HOST_KEY_FILE)
    assert stored.export_public_key().decode().split()[1] == blob


def test_lists_stats_reads_and_removes_export_files(
    campaign: RunningCampaign, sftp: paramiko.SFTPClient
) -> None:
    result = campaign.admin.run_opt_out_export(full=True)
    name = result["file"]
    local = Path(campaign.options.state_dir) / "campaign-sftp" / EXPORTS / name
    assert sftp.listdir("/") == ["d365_loads"]
    assert name in sftp.listdir(EXPORTS)
    assert sftp.stat(f"{EXPORTS}/{name}").st_size == local.stat().st_size
    with sftp.open(f"/{EXPORTS}/{name}") as handle:
        assert handle.read() == local.read_bytes()
    sftp.remove(f"{EXPORTS}/{name}")
    assert not local.exists()
    assert name not in sftp.listdir(EXPORTS)


def test_the_login_is_chrooted_to_the_storage_area(sftp: paramiko.SFTPClient) -> None:
    assert sftp.normalize("..") == "/"
    assert sftp.listdir("../../..") == ["d365_loads"]
    with pytest.raises(FileNotFoundError):
        sftp.listdir("/etc")


def test_writes_are_refused(campaign: RunningCampaign, sftp: paramiko.SFTPClient) -> None:
    name = campaign.admin.run_opt_out_export(full=True)["file"]
    existing = f"{EXPORTS}/{name}"
    refused = [
        lambda: sftp.open(f"{EXPORTS}/new.csv", "w"),
        lambda: sftp.open(existing, "a"),
        lambda: sftp.open(existing, "r+"),
        lambda: sftp.mkdir("incoming"),
        lambda: sftp.rmdir(EXPORTS),
        lambda: sftp.rename(existing, f"{EXPORTS}/renamed.csv"),
        lambda: sftp.posix_rename(existing, f"{EXPORTS}/renamed.csv"),
        lambda: sftp.chmod(existing, 0o666),
        lambda: sftp.symlink(existing, "link.csv"),
    ]
    for attempt in refused:
        with pytest.raises(PermissionError):
            attempt()
    assert sorted(sftp.listdir(EXPORTS)) == sorted(campaign.admin.opt_out_export_status()["files"])
    assert sftp.listdir("/") == ["d365_loads"]


def test_wrong_password_and_unknown_user_are_refused(campaign: RunningCampaign) -> None:
    with pytest.raises(paramiko.AuthenticationException):
        connect(campaign.info, password="wrong")
    with pytest.raises(paramiko.AuthenticationException):
        connect(campaign.info, username="root", password=campaign.info["sftp_password"])


def test_a_different_pinned_host_key_is_refused(campaign: RunningCampaign) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    client = pinned_client(campaign.info, other)
    with pytest.raises(paramiko.BadHostKeyException):
        client.connect(
            campaign.info["sftp_host"],
            campaign.info["sftp_port"],
            username=campaign.info["sftp_username"],
            password=campaign.info["sftp_password"],
            look_for_keys=False,
            allow_agent=False,
        )


def test_public_key_auth_with_an_authorized_key(campaign: RunningCampaign) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    pkey = paramiko.Ed25519Key.from_private_key(io.StringIO(key.export_private_key().decode()))
    with pytest.raises(paramiko.AuthenticationException):
        connect(campaign.info, pkey=pkey)
    campaign.admin.authorize_sftp_key(key.export_public_key().decode())
    client = connect(campaign.info, pkey=pkey)
    try:
        assert client.open_sftp().listdir("/") == ["d365_loads"]
    finally:
        client.close()
    with pytest.raises(RuntimeError, match="400"):
        campaign.admin.authorize_sftp_key("ssh-ed25519 not-a-key")


def test_no_shell_or_commands(campaign: RunningCampaign) -> None:
    client = connect(campaign.info)
    try:
        with pytest.raises(paramiko.SSHException):
            client.exec_command("id", timeout=5)
    finally:
        client.close()


def test_the_host_key_survives_a_restart(tmp_path: Path) -> None:
    from crm_sandbox.campaign.inprocess import start_in_thread
    from crm_sandbox.campaign.server import CampaignServeOptions

    options = CampaignServeOptions(
        tmp_path,
        ims_port=0,
        gateway_port=0,
        events_port=0,
        sftp_port=0,
        sizes=SeedSizes(5, projects=0),
    )
    with start_in_thread(options) as first:
        key = first.info["sftp_host_key"]
    with start_in_thread(options) as second:
        assert second.info["sftp_host_key"] == key
        connect(second.info).close()
