"""opt_outs without a server: export parsing, positions, modes, resuming, SFTP retries."""

from __future__ import annotations

import errno
import io
import json
import logging

import paramiko
import pytest
from campaign_client.client import RetryPolicy
from campaign_client.sftp import (
    HostKeyError,
    RemoteFolder,
    SFTPError,
    SFTPSettings,
    parse_host_key,
    parse_private_key,
)
from sync_support.settings_check import ConfigError
from tap_adobe_campaign.optout_export import (
    DEFAULT_EXPORTS_DIR,
    ExportFormatError,
    MalformedRow,
    exports_dir,
    is_export_file,
    parse_position,
    position,
    read_export,
)
from tap_adobe_campaign.tap import TapAdobeCampaign

from .sftp_fakes import HEADER, HOST_KEY, PRIVATE_KEY, SFTP_CONFIG, T2, FakeServer, export, row

pytestmark = pytest.mark.usefixtures("no_profile_metadata")

F1 = "optouts_20261120T020000000Z.csv"
F2 = "optouts_20261121T020000000Z.csv"
NO_WAIT = RetryPolicy(max_retries=3, base=0.0, cap=0.0)


def parse(data: bytes, after_row: int = 0) -> tuple[list[dict], list[MalformedRow]]:
    bad: list[MalformedRow] = []
    lines = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    return list(read_export(F1, lines, after_row=after_row, on_malformed=bad.append)), bad


def test_a_row_becomes_a_record_with_flags_times_and_nulls() -> None:
    records, bad = parse(export(row("@p1", "c1", email="a@x.test", blackListEmail=("1", T2))))
    assert bad == []
    assert records == [
        {
            "export_position": F1 + ":0000001",
            "export_file": F1,
            "PKey": "@p1",
            "externalId": "c1",
            "email": "a@x.test",
            "lastModified": "2026-11-20T10:00:00+00:00",
            "blackList": False,
            "blackListLastModified": None,
            "blackListEmail": True,
            "blackListEmailLastModified": "2026-11-21T08:30:15.250000+00:00",
            **{
                column: value
                for flag in (
                    "blackListFax",
                    "blackListMobile",
                    "blackListPhone",
                    "blackListPostalMail",
                    "blackListPushnotification",
                    "ccpaOptOut",
                )
                for column, value in ((flag, False), (f"{flag}LastModified", None))
            },
        }
    ]


def test_quoted_cells_and_campaign_only_profiles() -> None:
    line = row("@p2", email='"o\'neil, ""jr""@x.test"')
    records, _ = parse(export(line))
    assert records[0]["email"] == 'o\'neil, "jr"@x.test'
    assert records[0]["externalId"] is None


def test_malformed_rows_are_skipped_and_named_by_file_row_and_column() -> None:
    data = export(
        row("@p1", "c1"),
        row("@p2", "c2", blackListEmail="true"),
        row("@p3", "c3", ccpaOptOut=("1", "2026-11-21T08:30:15Z")),
        "@p4,c4",
        row("@p5", "c5", blackListPhone=("1", "2026-13-40 25:00:00.000Z")),
        row("", "c6"),
        row("@p7", "c7"),
    )
    records, bad = parse(data)
    assert [r["PKey"] for r in records] == ["@p1", "@p7"]
    assert [r["export_position"] for r in records] == [F1 + ":0000001", F1 + ":0000007"]
    assert [(b.row, b.column) for b in bad] == [
        (2, "blackListEmail"),
        (3, "ccpaOptOutLastModified"),
        (4, "row"),
        (5, "blackListPhoneLastModified"),
        (6, "PKey"),
    ]
    assert str(bad[0]) == f"{F1} row 2: blackListEmail is not a boolean 1/0 (got 'true')"


def test_a_different_header_or_broken_quoting_fails_the_file() -> None:
    with pytest.raises(ExportFormatError, match=r"missing \['ccpaOptOut'\]"):
        parse(HEADER.replace(",ccpaOptOut,", ",cusOptOut,").encode() + b"\n")
    reordered = HEADER.replace("PKey,externalId", "externalId,PKey")
    with pytest.raises(ExportFormatError, match="order differs"):
        parse(reordered.encode() + b"\n")
    with pytest.raises(ExportFormatError, match=f"{F1} row 2: broken CSV"):
        parse(export(row("@p1"), '@p2,"unterminated'))
    with pytest.raises(ExportFormatError, match="empty file"):
        parse(b"")


def test_after_row_skips_rows_already_read() -> None:
    records, _ = parse(export(row("@p1"), row("@p2"), row("@p3")), after_row=2)
    assert [r["PKey"] for r in records] == ["@p3"]


def test_positions_sort_as_files_and_rows() -> None:
    assert position(F1, 12) == F1 + ":0000012"
    assert parse_position(position(F2, 3)) == (F2, 3)
    assert sorted([position(F2, 1), position(F1, 10), position(F1, 9)]) == [
        position(F1, 9),
        position(F1, 10),
        position(F2, 1),
    ]
    assert is_export_file(F1)
    assert not is_export_file(F1 + ".part")
    assert not is_export_file("optouts_latest.csv")
    with pytest.raises(ValueError, match="not an opt-out export position"):
        parse_position("2026-11-20T10:00:00Z")


# --- the stream ----------------------------------------------------------------------------


def sync(
    capsys: pytest.CaptureFixture[str],
    server: FakeServer,
    state: dict | None = None,
    **config: object,
) -> tuple[list[dict], list[dict], TapAdobeCampaign]:
    capsys.readouterr()
    tap = TapAdobeCampaign(config={**SFTP_CONFIG, **config}, state=state)
    stream = tap.streams["opt_outs"]
    stream._open_folder = lambda settings: RemoteFolder(  # type: ignore[attr-defined]
        settings, DEFAULT_EXPORTS_DIR, opener=server, policy=NO_WAIT
    )
    stream.sync()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return records, states, tap


def bookmark(states: list[dict]) -> str:
    return states[-1]["bookmarks"]["opt_outs"]["replication_key_value"]


def at(value: str) -> dict:
    return {
        "bookmarks": {
            "opt_outs": {"replication_key": "export_position", "replication_key_value": value}
        }
    }


def two_files() -> FakeServer:
    return FakeServer(
        {
            F2: export(row("@p3", "c3", blackList=("1", T2))),
            F1: export(row("@p1", "c1"), row("@p2", "c2")),
            F1 + ".part": b"partial",
            "readme.txt": b"x",
        }
    )


def test_the_first_run_reads_every_file_in_name_order_with_a_state_per_file(capsys) -> None:
    server = two_files()
    records, states, _ = sync(capsys, server)
    assert [r["export_position"] for r in records] == [
        F1 + ":0000001",
        F1 + ":0000002",
        F2 + ":0000001",
    ]
    assert server.opened == [F1, F2]
    positions = [s["bookmarks"]["opt_outs"].get("replication_key_value") for s in states]
    assert F1 + ":0000002" in positions
    assert bookmark(states) == F2 + ":0000001"
    assert server.connections == 1


def test_a_run_resumes_after_the_bookmark_mid_file(capsys) -> None:
    server = two_files()
    records, states, _ = sync(capsys, server, state=at(F1 + ":0000001"))
    assert [r["PKey"] for r in records] == ["@p2", "@p3"]
    assert bookmark(states) == F2 + ":0000001"
    rerun = two_files()
    records, states, _ = sync(capsys, rerun, state=at(F2 + ":0000001"))
    assert records == []
    assert rerun.opened == [F2]  # older files are not even downloaded
    assert bookmark(states) == F2 + ":0000001"


def test_only_each_profiles_last_row_of_the_run_is_emitted(capsys, caplog) -> None:
    """A catch-up run must not apply a profile's old row before its newer one."""
    server = FakeServer(
        {
            F1: export(row("@p1", "c1", blackListEmail="1"), row("@p2", "c2"), row("@p3", "c3")),
            F2: export(row("@p1", "c1", blackListEmail="0"), row("@p4", "c4")),
        }
    )
    with caplog.at_level(logging.INFO):
        records, states, _ = sync(capsys, server, state=at(F1 + ":0000001"))
    assert [(r["PKey"], r["export_position"]) for r in records] == [
        ("@p2", F1 + ":0000002"),
        ("@p3", F1 + ":0000003"),
        ("@p1", F2 + ":0000001"),
        ("@p4", F2 + ":0000002"),
    ]
    assert records[2]["blackListEmail"] is False
    assert bookmark(states) == F2 + ":0000002"
    assert "superseded" not in caplog.text
    with caplog.at_level(logging.INFO):
        records, _, _ = sync(capsys, server)  # from the start: @p1's first row is superseded
    assert [r["PKey"] for r in records] == ["@p2", "@p3", "@p1", "@p4"]
    assert "Skipped 1 opt-out export row(s) superseded by a later row" in caplog.text
    assert server.opened == [F1, F2, F1, F2]  # each file downloaded once per run


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"opt_out_sync": "disabled"}, "opt_out_sync is disabled"),
        ({"opt_out_sync": "d365_to_campaign"}, "opt_out_sync is d365_to_campaign"),
        ({"sftp_host": None}, "sftp_host is not set"),
    ],
)
def test_modes_without_campaign_to_d365_and_no_sftp_host_emit_nothing(
    capsys, caplog, config: dict, reason: str
) -> None:
    server = two_files()
    with caplog.at_level(logging.INFO):
        records, _, _ = sync(capsys, server, **config)
    assert records == []
    assert server.connections == 0
    assert f"opt_outs emits nothing: {reason}" in caplog.text


def test_campaign_to_d365_is_the_default_mode(capsys) -> None:
    config = {k: v for k, v in SFTP_CONFIG.items() if k != "opt_out_sync"}
    server = two_files()
    capsys.readouterr()
    tap = TapAdobeCampaign(config=config)
    assert tap.config["opt_out_sync"] == "campaign_to_d365"
    records, _, _ = sync(capsys, server, opt_out_sync="campaign_to_d365")
    assert len(records) == 3


def test_malformed_rows_are_logged_counted_and_skipped(capsys, caplog) -> None:
    server = FakeServer({F1: export(row("@p1"), row("@p2", blackListFax="yes"), row("@p3"))})
    with caplog.at_level(logging.INFO):
        records, states, tap = sync(capsys, server)
    assert [r["PKey"] for r in records] == ["@p1", "@p3"]
    assert bookmark(states) == F1 + ":0000003"
    assert f"{F1} row 2: blackListFax is not a boolean 1/0 (got 'yes')" in caplog.text
    assert f"Skipped 1 malformed opt-out export row(s) in {F1}" in caplog.text
    assert len(tap.streams["opt_outs"].malformed) == 1  # type: ignore[attr-defined]


# --- the SFTP folder ------------------------------------------------------------------------


def folder(server: FakeServer, **config: object) -> RemoteFolder:
    settings = SFTPSettings.from_config({**SFTP_CONFIG, **config})
    return RemoteFolder(
        settings, exports_dir({**SFTP_CONFIG, **config}), opener=server, policy=NO_WAIT
    )


def test_transient_failures_reconnect_and_retry(caplog) -> None:
    server = two_files()
    server.faults = [ConnectionResetError(errno.ECONNRESET, "reset"), EOFError("eof")]
    with caplog.at_level(logging.WARNING), folder(server) as exports:
        assert exports.list_files(is_export_file) == [F1, F2]
    assert server.connections == 3
    assert "SFTP listing d365_loads/exports failed (attempt 1), reconnecting" in caplog.text


def test_a_dropped_download_goes_on_from_the_bytes_it_has() -> None:
    server = two_files()
    server.drop_after[F1] = 40
    local = io.BytesIO()
    with folder(server) as exports:
        assert exports.download(F1, local) == len(server.files[F1])
    assert local.getvalue() == server.files[F1]
    assert server.opened == [F1, F1]
    assert server.connections == 2


def test_retries_run_out() -> None:
    server = two_files()
    server.faults = [EOFError("eof")] * 10
    with pytest.raises(EOFError), folder(server) as exports:
        exports.list_files(is_export_file)
    assert server.connections == 4  # max_retries 3


def test_permanent_failures_are_not_retried() -> None:
    server = two_files()
    with (
        pytest.raises(SFTPError, match="No such file"),
        folder(server, opt_out_exports_dir="nowhere/") as exports,
    ):
        exports.list_files(is_export_file)
    assert server.connections == 1
    refused = two_files()
    refused.faults = [HostKeyError("refused"), paramiko.AuthenticationException("no")]
    with pytest.raises(HostKeyError), folder(refused) as exports:
        exports.list_files(is_export_file)
    assert refused.connections == 1


# --- settings -------------------------------------------------------------------------------


def test_keys_parse_and_known_hosts_names_carry_the_port() -> None:
    assert parse_host_key(HOST_KEY).get_name() == "ssh-ed25519"
    assert parse_private_key(PRIVATE_KEY).get_name() == "ssh-ed25519"
    settings = SFTPSettings.from_config(SFTP_CONFIG)
    assert settings.known_hosts_name == "[sftp.test]:2222"
    assert SFTPSettings.from_config({**SFTP_CONFIG, "sftp_port": 22}).known_hosts_name == (
        "sftp.test"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"opt_out_sync": "both"}, "'bidirectional'] in config['opt_out_sync']"),
        ({"sftp_host_key": None}, "sftp_host_key is required with sftp_host"),
        ({"sftp_username": None}, "sftp_username is required with sftp_host"),
        ({"sftp_password": None}, "sftp_password or sftp_private_key is required"),
        ({"sftp_host_key": "ssh-ed25519"}, "sftp_host_key must be an OpenSSH public key line"),
        ({"sftp_host_key": "ssh-ed25519 bm90IGEga2V5"}, "not a valid ssh-ed25519 public key"),
        ({"sftp_private_key": "-----BEGIN X-----"}, "sftp_private_key is not an unencrypted"),
    ],
)
def test_config_errors_name_the_setting(config: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        TapAdobeCampaign(config={**SFTP_CONFIG, **config})
    assert any(message in error for error in raised.value.errors), raised.value.errors


def test_secrets_are_marked_secret() -> None:
    properties = TapAdobeCampaign.config_jsonschema["properties"]
    assert properties["sftp_password"].get("secret") is True
    assert properties["sftp_private_key"].get("secret") is True
    assert properties["opt_out_sync"]["default"] == "campaign_to_d365"


def test_settings_never_show_the_password_or_key() -> None:
    settings = SFTPSettings.from_config(
        {**SFTP_CONFIG, "sftp_password": "pw-123", "sftp_private_key": PRIVATE_KEY}
    )
    assert settings.password == "pw-123"
    assert "pw-123" not in repr(settings)
    assert "private_key" not in repr(settings)
