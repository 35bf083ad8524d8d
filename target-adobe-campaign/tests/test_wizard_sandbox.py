"""The schema wizard against the sandbox: Dataverse metadata in, golden files out, v8 build.

A Dataverse sandbox (crm-sandbox in a subprocess) serves `account` and `salesorder`; the
Campaign sandbox is conftest's in-process one (its v8 SOAP router builds source schemas).
Regenerate the golden files after an intended change with
`WIZARD_UPDATE_GOLDEN=1 pytest tests/test_wizard_sandbox.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import typing as t
from pathlib import Path

import pytest
import requests
from campaign_client import querydef, xtk_write
from campaign_client.soap_session import SoapSession
from campaign_client.xtk_write import Link, Record
from crm_sandbox.testing import launch
from target_adobe_campaign.wizard.cli import main

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from crm_sandbox.campaign.inprocess import RunningCampaign
    from crm_sandbox.testing import Sandbox

GOLDEN = Path(__file__).parent / "wizard_golden"
TABLES = ("account", "salesorder")
FILES = ("srcSchema.xml", "resource.json", "meltano.standard.yml", "meltano.v8.yml", "report.md")


@pytest.fixture(scope="module")
def dataverse() -> Iterator[Sandbox]:
    with launch(contacts=20, seed=3, profiles=0, projects=0) as sandbox:
        yield sandbox


@pytest.fixture
def d365_file(dataverse: Sandbox, tmp_path: Path) -> Path:
    d = dataverse.dataverse
    path = tmp_path / "d365.json"
    path.write_text(
        json.dumps(
            {
                "tenant_id": d.tenant_id,
                "client_id": d.client_id,
                "client_secret": d.client_secret,
                "authority_host": d.authority_host,
                "resource_url": d.url,
                "ca_bundle": dataverse.ca_file,
            }
        )
    )
    return path


def campaign_file(campaign: RunningCampaign, tmp_path: Path, **overrides: t.Any) -> Path:
    info = campaign.info
    config = {
        "organization": info["organization"],
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "scopes": info["scopes"],
        "ims_url": info["ims_url"],
        "api_base_url": info["api_base_url"],
        "ca_bundle": info["ca_file"],
        "soap_url": info["soap_url"],
        "backend": "v8",
        **overrides,
    }
    path = tmp_path / "campaign.json"
    path.write_text(json.dumps({k: v for k, v in config.items() if v is not None}))
    return path


def files(folder: Path) -> dict[str, bytes]:
    return {
        f"{table}/{name}": (folder / table / name).read_bytes()
        for table in TABLES
        for name in FILES
    }


def test_the_output_matches_the_golden_files_and_a_rerun_rewrites_nothing(
    d365_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "campaign-schemas"
    argv = ["--tables", "salesorder,account", "--d365-config", str(d365_file), "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("account: cus:account / cusAccount: ")  # parents first
    assert printed[1].startswith("salesorder: cus:salesorder / cusSalesorder: ")
    generated = files(out)
    if os.environ.get("WIZARD_UPDATE_GOLDEN"):
        for name, data in generated.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_bytes(data)
    assert generated == files(GOLDEN)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert main([*argv[:1], "account,salesorder", *argv[2:]]) == 0
    assert files(out) == generated
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps


def test_the_golden_files_show_the_mapping(d365_file: Path) -> None:
    """What the golden files must say, so a regenerated set cannot silently lose it."""
    schema = (GOLDEN / "salesorder" / "srcSchema.xml").read_text()
    assert '<attribute name="cusTotalamount" type="double" label="Total Amount" />' in schema
    assert '<attribute name="cusDatefulfilled" type="date"' in schema
    assert '<attribute name="cusName" type="string" label="Name" length="300" />' in schema
    assert '<attribute name="cusWillcall" type="boolean"' in schema
    assert 'enum="cusStatuscode"' in schema
    assert '<element name="account" type="link" target="cus:account"' in schema
    assert '<element name="contact" type="link" target="nms:recipient"' in schema
    report = (GOLDEN / "salesorder" / "report.md").read_text()
    assert "- `customerid` (Customer): Customer lookup" in report
    account = json.loads((GOLDEN / "account" / "resource.json").read_text())
    assert account["links"] == [
        {
            "name": "primarycontact",
            "label": "Primary Contact",
            "target": "profile",
            "mandatory": False,
        }
    ]
    assert {"name": "cusRevenue", "type": "double", "label": "Annual Revenue"} in account["fields"]


def soap(campaign: RunningCampaign) -> SoapSession:
    info = campaign.info
    return SoapSession.from_config(
        {
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "scopes": info["scopes"],
            "ims_url": info["ims_url"],
            "api_base_url": info["api_base_url"],
            "soap_url": info["soap_url"],
            "ca_bundle": info["ca_file"],
        }
    )


def test_apply_builds_the_schemas_on_v8(
    d365_file: Path,
    campaign: RunningCampaign,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [
        "--tables",
        "account,salesorder",
        "--d365-config",
        str(d365_file),
        "--out",
        str(tmp_path / "out"),
        "--config",
        str(campaign_file(campaign, tmp_path)),
        "--apply",
    ]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == [
        "account: cus:account written and built",
        "salesorder: cus:salesorder written and built",
    ]
    session = soap(campaign)
    xtk_write.write_collection(
        session,
        "nms:recipient",
        [Record({"externalId": "c-wizard", "email": "wizard@example.com"}, key=("@externalId",))],
    )
    xtk_write.write_collection(
        session,
        "cus:account",
        [
            Record(
                {
                    "cusCrmId": "a-1",
                    "cusName": "Contoso",
                    "cusRevenue": 1250.5,
                    "cusIndustrycode": 7,
                },
                key=("@cusCrmId",),
                links=(Link("primarycontact", ("@externalId",), {"externalId": "c-wizard"}),),
            )
        ],
    )
    xtk_write.write_collection(
        session,
        "cus:salesorder",
        [
            Record(
                {"cusCrmId": "o-1", "cusName": "Order 1", "cusTotalamount": 99.5},
                key=("@cusCrmId",),
                links=(
                    Link("account", ("@cusCrmId",), {"cusCrmId": "a-1"}),
                    Link("contact", ("@externalId",), {"externalId": "c-wizard"}),
                ),
            )
        ],
    )
    orders = querydef.read_by_keys(
        session,
        "cus:salesorder",
        "@cusCrmId",
        ["o-1"],
        ("@cusName", "@cusTotalamount", "[account/@cusName]", "[contact/@email]"),
    )
    row = orders["o-1"]
    assert querydef.value_at(row, "@cusName") == "Order 1"
    assert float(querydef.value_at(row, "@cusTotalamount") or 0) == 99.5
    assert querydef.value_at(row, "[account/@cusName]") == "Contoso"
    assert querydef.value_at(row, "[contact/@email]") == "wizard@example.com"
    rest = requests.get(
        f"{campaign.info['api_url']}/profileAndServicesExt/cusAccount/a-1",
        headers={
            "Authorization": f"Bearer {campaign.token()}",
            "X-Api-Key": campaign.info["client_id"],
        },
        verify=campaign.info["ca_file"],
        timeout=30,
    )
    assert rest.status_code == 200, rest.text
    body = rest.json()
    assert (body["cusName"], body["cusRevenue"]) == ("Contoso", 1250.5)
    assert body["cusIndustrycode"] == "consulting"  # D365 value 7, by its label's slug
    assert main(argv) == 0  # building the same definitions again is accepted


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: --tables"),
        (["--tables", " , "], "--tables: give at least one table logical name"),
        (["--tables", "Account,sales order"], "not a table logical name: Account, sales order"),
        (["--tables", "contact"], "'contact' is Campaign's profile table (nms:recipient)"),
        (["--tables", "nosuchtable"], "table 'nosuchtable' is not in this Dynamics 365"),
        (["--tables", "account", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    argv: list[str],
    message: str,
    d365_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    full = [*argv, "--d365-config", str(d365_file), "--out", str(tmp_path / "out")]
    assert main(full) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("target-adobe-campaign-wizard: error: ")
    assert message in err
    assert not (tmp_path / "out").exists()


def test_config_errors_exit_2_before_any_request(
    tmp_path: Path,
    campaign: RunningCampaign,
    d365_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in [n for n in os.environ if n.startswith(("TAP_DYNAMICS365_", "TARGET_ADOBE"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env above
    assert main(["--tables", "account"]) == 2
    assert capsys.readouterr().err == (
        "target-adobe-campaign-wizard: error: Dynamics 365 config: tenant_id is required; "
        "client_id is required; resource_url is required; client_secret is required and must "
        "not be empty (or set client_certificate_path + client_certificate_thumbprint)\n"
    )
    monkeypatch.setenv("TAP_DYNAMICS365_RESOURCE_URL", "http://org.crm.dynamics.com")
    assert (
        main(["--tables", "account", "--d365-config", str(d365_file), "--d365-config", "ENV"]) == 2
    )
    assert "resource_url must be an https:// URL" in capsys.readouterr().err
    assert main(["--tables", "account", "--d365-config", str(tmp_path / "missing.json")]) == 2
    assert "cannot read the config" in capsys.readouterr().err
    campaign.admin.clear_requests()
    bad = campaign_file(campaign, tmp_path, client_secret=None, soap_url="http://x/soap")
    argv = ["--tables", "account", "--d365-config", str(d365_file), "--config", str(bad), "--apply"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "Campaign config: client_secret is required with soap_auth=ims_bearer" in err
    assert "soap_url must be an https:// URL" in err
    assert campaign.admin.requests() == []


def test_a_refused_call_exits_1_with_one_line(
    d365_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = json.loads(d365_file.read_text())
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**config, "client_secret": "wrong-secret"}))
    argv = ["--tables", "account", "--d365-config", str(wrong), "--out", str(tmp_path / "out")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith("target-adobe-campaign-wizard: error: ")
