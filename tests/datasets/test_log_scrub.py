"""``traffic import --scrub`` (issue 15): seeded secrets and personal data of every kind, made at run time,
never reach the dataset, its WAL, a replay's trace database, exports, the report or the command's output;
each becomes a stable placeholder, and the report counts them per kind, never showing a value."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from helpers import leaked, seeded_pii, wb

from workbench.datasets.logs.scrub import Scrubber
from workbench.store import TraceStore
from workbench.store.export import export_run
from workbench.store.outcomes import dataset_path

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "logs"


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _seeded_log(tmp_path: Path, pii: dict[str, str]) -> Path:
    rows = [json.loads(x) for x in (FIX / "litellm_spendlogs.jsonl").read_text().splitlines()][:4]
    first = (f"Hi, I am {pii['NAME']}, mail me at {pii['EMAIL']} or call {pii['PHONE']}. My card is {pii['CARD']} "
             f"and my IBAN {pii['IBAN']}; I log in from {pii['IP']} and {pii['IPV6']}.")
    rows[0]["messages"][1]["content"] = first
    rows[1]["messages"][1]["content"] = (f"Our key {pii['API_KEY']} fails; header Authorization: {pii['BEARER']}; "
                                         f"AWS {pii['AWS']} and secret {pii['HEX']}. Same mail: {pii['EMAIL']}")
    answer = rows[2]["response"]["choices"][0]["message"]
    answer["content"] = f"Thanks {pii['NAME'].split()[0]}, we wrote to {pii['EMAIL']}."
    rows[3]["end_user"] = pii["EMAIL"]
    rows[3]["metadata"]["note"] = f"caller {pii['PHONE']} from {pii['IP']}"
    path = tmp_path / "spend.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_no_seeded_value_survives_an_import_a_replay_an_export_or_a_report(tmp_path):
    pii = seeded_pii()
    log = _seeded_log(tmp_path, pii)
    original = log.read_bytes()
    names = tmp_path / "names.txt"
    names.write_text(f"# people\n{pii['NAME']}\n{pii['NAME'].split()[0]}\n")
    res = wb("traffic", "import", "litellm", str(log), "--out", "pii", "--scrub", "--names", str(names), "--json",
             cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)["scrubbed"]
    assert {k: v["replaced"] for k, v in report.items()} == {
        "API_KEY": 4, "EMAIL": 4, "IBAN": 1, "CARD": 1, "IP": 3, "PHONE": 2, "NAME": 2}
    assert report["EMAIL"]["distinct"] == 1 and report["IP"]["distinct"] == 2  # same value, same placeholder
    assert log.read_bytes() == original  # the log itself is never modified

    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: scrubbed\nseed: 1\nfleet:\n"
        "  large: {model: gpt-4o, provider: recorded, recorded: {on_miss: simulate}}\n"
        "  small: {model: gpt-4o-mini, provider: recorded, recorded: {on_miss: simulate}}\n"
        "router: {policy: rules, params: {default: small, rules: [{metadata: {logged_model: gpt-4o}, to: large}]}}\n"
        "traffic: {dataset: pii}\n")
    db = tmp_path / "t.duckdb"
    ran = wb("compare", str(scenario), "--db", str(db), "--json", "--report", str(tmp_path / "r.html"), cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    info = wb("datasets", "info", "pii", "--json", cwd=tmp_path)
    texts = [res.stdout, res.stderr, ran.stdout, ran.stderr, info.stdout, (tmp_path / "r.html").read_text()]
    for f in (dataset_path("pii"), db):
        texts.append(f.read_bytes().decode("latin-1"))
        wal = Path(f"{f}.wal")
        if wal.exists():
            texts.append(wal.read_bytes().decode("latin-1"))
    with TraceStore(db) as store:
        rid = json.loads(ran.stdout)[0]["run_id"]
        exported = [*export_run(store, rid, tmp_path / "export", "csv").values(),
                    *export_run(store, rid, tmp_path / "export", "parquet").values()]
    with duckdb.connect() as con:
        for f in exported:
            reader = "read_csv" if f.suffix == ".csv" else "read_parquet"
            values = con.execute(f"SELECT * FROM {reader}(?)", [str(f)]).fetchall()
            texts += [f.read_bytes().decode("latin-1"), repr(values)]
    with duckdb.connect(str(dataset_path("pii")), read_only=True) as con:
        rows = con.execute("SELECT * FROM prompts").fetchall() + con.execute("SELECT * FROM outcomes").fetchall()
    stored = repr(rows)
    texts.append(stored)
    assert leaked(pii, texts) == []
    assert "<EMAIL_1>" in stored and "<CARD_1>" in stored and "<NAME_1>" in stored and "<API_KEY_1>" in stored


def test_checksums_decide_what_is_a_card_or_an_iban():
    s = Scrubber()
    assert s.text("order 4111 1111 1111 1112 shipped") == "order 4111 1111 1111 1112 shipped"  # Luhn fails
    assert s.text("card 4111 1111 1111 1111") == "card <CARD_1>"
    assert s.text("IBAN GB82 WEST 1234 5698 7654 32") == "IBAN <IBAN_1>"
    assert s.text("IBAN GB82 WEST 1234 5698 7654 33") == "IBAN GB82 WEST 1234 5698 7654 33"  # mod 97 fails
    assert s.text("version 1.2.3 and 999.1.1.1") == "version 1.2.3 and 999.1.1.1"  # not an IP address
    assert s.text("ask 192.168.0.1, again 192.168.0.1") == "ask <IP_1>, again <IP_1>"
    assert s.report() == {"CARD": {"replaced": 1, "distinct": 1}, "IBAN": {"replaced": 1, "distinct": 1},
                          "IP": {"replaced": 2, "distinct": 1}}
