"""Traffic: loading JSONL, CSV and Parquet, sampling, and arrival times.

Loading must turn every format into the same :class:`Request` objects, and stop at the first bad
record with one :class:`TrafficError` naming file, line and field. Sampling and arrival times depend
only on the requests, the spec and the seed, which is what makes two scenarios comparable.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import statistics
from pathlib import Path

import duckdb
import pytest
from helpers import wb

from workbench.errors import InputError, TrafficError
from workbench.scenario import Burst, BurstArrival, PoissonArrival, RecordedArrival, load_scenario
from workbench.traffic import Request, arrival_times, load_traffic, sample_requests

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
DEMO = SCENARIOS / "traffic" / "support_tickets.jsonl"

#: Three requests as they should load from any format.
RECORDS = [
    {"id": "r1", "prompt": "Why was I charged twice?", "category": "billing", "difficulty": 0.2,
     "expected": "explain_charge", "arrived_at": "2026-03-10T07:00:00Z", "channel": "email",
     "metadata": {"plan": "pro"}},
    {"id": "r2", "prompt": "Is the API down?", "category": "outage", "difficulty": 0.5,
     "expected": "acknowledge_incident", "arrived_at": "2026-03-10T07:00:30Z", "channel": "chat",
     "metadata": {"plan": "business"}},
    {"id": "r3", "prompt": "Refund my annual plan, please.", "category": "refund", "difficulty": 0.75,
     "expected": "refund_issued", "arrived_at": "2026-03-10T07:02:00Z", "channel": "web_form",
     "metadata": {"plan": "free"}},
]
T0 = 1773126000.0  # 2026-03-10T07:00:00Z
EXPECTED = [
    Request(id="r1", prompt="Why was I charged twice?", category="billing", difficulty=0.2,
            expected="explain_charge", metadata={"channel": "email", "plan": "pro"}, arrived_at=T0),
    Request(id="r2", prompt="Is the API down?", category="outage", difficulty=0.5,
            expected="acknowledge_incident", metadata={"channel": "chat", "plan": "business"},
            arrived_at=T0 + 30),
    Request(id="r3", prompt="Refund my annual plan, please.", category="refund", difficulty=0.75,
            expected="refund_issued", metadata={"channel": "web_form", "plan": "free"}, arrived_at=T0 + 120),
]


# --- helpers ----------------------------------------------------------------------------------------

def write_jsonl(path: Path, lines: list) -> Path:
    """One line per item: dicts as JSON, strings as written (for malformed lines)."""
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines),
                    encoding="utf-8")
    return path


def write_csv(path: Path, records: list[dict]) -> Path:
    """Records as CSV; ``messages`` and ``metadata`` columns hold JSON."""
    cols = list(dict.fromkeys(k for r in records for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow({k: json.dumps(v) if k in ("messages", "metadata") else v for k, v in r.items()})
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def write_parquet(path: Path, records: list[dict]) -> Path:
    """Records as Parquet, written by DuckDB from a CSV, with ``difficulty`` typed as DOUBLE."""
    src = write_csv(path.with_suffix(".src.csv"), records)
    duckdb.sql(f"COPY (SELECT * REPLACE (CAST(difficulty AS DOUBLE) AS difficulty) "
               f"FROM read_csv('{src}', header=true, all_varchar=true)) TO '{path}' (FORMAT parquet)")
    src.unlink()
    return path


def traffic_error(path: Path) -> TrafficError:
    with pytest.raises(TrafficError) as info:
        load_traffic(path)
    return info.value


def assert_where(err: TrafficError, path: Path, line: int | None, field: str | None) -> None:
    """The error names exactly this file, line and field, in its attributes and in its message."""
    assert isinstance(err, InputError)
    assert (err.file, err.line, err.field) == (str(path), line, field)
    text = str(err)
    assert (f"{path}:{line}" if line else str(path)) in text
    if field:
        assert f"field '{field}'" in text


def plain(i: int, **extra) -> dict:
    return {"id": f"q{i}", "prompt": f"question {i}", **extra}


def stamped(offsets: dict[str, float]) -> list[Request]:
    return [Request(id=rid, prompt="p", arrived_at=T0 + s) for rid, s in offsets.items()]


# --- the demo traffic -------------------------------------------------------------------------------

def test_demo_traffic_loads():
    traffic = load_traffic(DEMO)
    reqs = traffic.requests
    assert len(reqs) >= 300
    assert len({r.id for r in reqs}) == len(reqs)
    assert {r.category for r in reqs} == {"billing", "outage", "account", "refund", "technical"}
    assert all(r.difficulty is not None and 0.0 <= r.difficulty <= 1.0 for r in reqs)
    assert all(r.expected for r in reqs)
    assert all(r.arrived_at is not None for r in reqs)
    assert traffic.sha256 == hashlib.sha256(DEMO.read_bytes()).hexdigest()
    assert traffic.path == DEMO


# --- formats ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("writer, ext", [(write_jsonl, "jsonl"), (write_csv, "csv"), (write_parquet, "parquet")])
def test_every_format_loads_the_same_requests(tmp_path, writer, ext):
    path = writer(tmp_path / f"t.{ext}", RECORDS)
    traffic = load_traffic(path)
    assert traffic.requests == EXPECTED
    assert traffic.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


CHAT = [{"role": "system", "content": "You are support."}, {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"}, {"role": "user", "content": "the follow-up"}]


@pytest.mark.parametrize("writer, ext", [(write_jsonl, "jsonl"), (write_csv, "csv")])
def test_chat_messages_give_the_last_user_message_as_prompt(tmp_path, writer, ext):
    path = writer(tmp_path / f"t.{ext}", [{"id": "c1", "messages": CHAT, "category": "account"}])
    (req,) = load_traffic(path).requests
    assert req.prompt == "the follow-up"
    assert req.messages == CHAT
    assert req.chat() == CHAT


def test_explicit_prompt_wins_over_messages_and_bare_prompt_is_one_user_message(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"id": "a", "prompt": "routed text", "messages": CHAT},
                                              {"id": "b", "prompt": "hello"}])
    a, b = load_traffic(path).requests
    assert a.prompt == "routed text"
    assert b.chat() == [{"role": "user", "content": "hello"}]


def test_unknown_columns_go_into_metadata(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [plain(1, channel="email", seats=12, metadata={"plan": "pro"})])
    (req,) = load_traffic(path).requests
    assert req.metadata == {"channel": "email", "seats": 12, "plan": "pro"}


@pytest.mark.parametrize("word, value", [("easy", 0.2), ("medium", 0.5), ("hard", 0.8), (" HARD ", 0.8)])
def test_difficulty_words(tmp_path, word, value):
    (req,) = load_traffic(write_jsonl(tmp_path / "t.jsonl", [plain(1, difficulty=word)])).requests
    assert req.difficulty == value


def test_blank_lines_are_skipped_and_ids_become_strings(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"id": 7, "prompt": "x"}, "", "   ", {"id": 8, "prompt": "y"}])
    assert [r.id for r in load_traffic(path).requests] == ["7", "8"]


# --- bad traffic: one error naming file, line and field ---------------------------------------------

BAD_JSONL = {
    # name: (lines, line, field); the good line 1 makes sure the bad line is not simply the first
    "invalid JSON on line 3": ([plain(1), "", '{"id": "q3", "prompt": '], 3, None),
    "line that is a JSON list": ([plain(1), '["q2", "question"]'], 2, None),
    "missing id": ([plain(1), {"prompt": "no id here"}], 2, "id"),
    "blank id": ([plain(1), {"id": "  ", "prompt": "x"}], 2, "id"),
    "empty prompt": ([plain(1), {"id": "q2", "prompt": ""}], 2, "prompt"),
    "no prompt at all": ([plain(1), {"id": "q2", "category": "billing"}], 2, "prompt"),
    "difficulty 1.5": ([plain(1), plain(2, difficulty=1.5)], 2, "difficulty"),
    "difficulty very hard": ([plain(1), plain(2, difficulty="very hard")], 2, "difficulty"),
    "negative difficulty": ([plain(1), plain(2, difficulty=-0.1)], 2, "difficulty"),
    "duplicate id": ([plain(1), plain(2), plain(1)], 3, "id"),
    "metadata not an object": ([plain(1), plain(2, metadata=["vip"])], 2, "metadata"),
    "messages not a list": ([plain(1), {"id": "q2", "messages": "hello"}], 2, "messages"),
    "messages empty": ([plain(1), {"id": "q2", "messages": []}], 2, "messages"),
    "message without content": ([plain(1), {"id": "q2", "messages": [{"role": "user"}]}], 2, "messages"),
    "bad timestamp": ([plain(1), plain(2, arrived_at="yesterday at noon")], 2, "arrived_at"),
    "boolean timestamp": ([plain(1), plain(2, arrived_at=True)], 2, "arrived_at"),
    "lone surrogate in the prompt": ([plain(1), plain(2, prompt="caf\udce9")], 2, "prompt"),
    "lone surrogate in a message": ([plain(1), {"id": "q2", "messages": [{"role": "user", "content": "\ud83d"}]}],
                                    2, "messages[0].content"),
    "lone surrogate in metadata": ([plain(1), plain(2, metadata={"tags": ["ok", "\udfff"]})], 2, "metadata.tags[1]"),
}


@pytest.mark.parametrize("case", list(BAD_JSONL), ids=list(BAD_JSONL))
def test_bad_jsonl_names_file_line_and_field(tmp_path, case):
    lines, line, field = BAD_JSONL[case]
    path = write_jsonl(tmp_path / "t.jsonl", lines)
    assert_where(traffic_error(path), path, line, field)


def test_lone_surrogate_is_one_error_and_a_pair_loads(tmp_path):
    err = traffic_error(write_jsonl(tmp_path / "t.jsonl", [plain(1, category="\ud800x")]))
    assert "lone surrogate \\ud800 in the text: not valid Unicode" in str(err)
    (req,) = load_traffic(write_jsonl(tmp_path / "ok.jsonl", [plain(1, prompt="smile \U0001f600")])).requests
    assert req.prompt == "smile \U0001f600"  # written by json.dumps as the escaped pair \ud83d\ude00


def test_lone_surrogate_stops_the_run_before_anything_is_written(tmp_path):
    traffic = write_jsonl(tmp_path / "t.jsonl", [plain(1), plain(2, prompt="\ud800")])
    db = tmp_path / "t.duckdb"
    res = wb("run", str(SCENARIOS / "support-baseline.yaml"), "--traffic", str(traffic), "--db", str(db),
             "--no-progress", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == (f"error: {traffic}:2, field 'prompt': lone surrogate \\ud800 in the text: "
                                  "not valid Unicode (a \\uD800-\\uDFFF escape without its pair)")
    assert not db.exists()  # no run row: the database was never opened


def test_duplicate_id_names_the_first_line(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [plain(1), plain(2), plain(1)])
    assert "duplicate id 'q1' (first on line 1)" in str(traffic_error(path))


@pytest.mark.parametrize("stamp", ["nan", "inf"])
def test_non_finite_timestamp_string_is_rejected(tmp_path, stamp):
    path = write_jsonl(tmp_path / "t.jsonl", [plain(1, arrived_at=stamp)])
    assert_where(traffic_error(path), path, 1, "arrived_at")


@pytest.mark.parametrize("name, content", [("t.txt", "id,prompt\n1,x\n"), ("t.jsonl", ""), ("t.jsonl", "\n\n"),
                                           ("t.csv", "id,prompt\n")])
def test_files_without_usable_requests(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    err = traffic_error(path)
    assert_where(err, path, None, None)
    assert ("unknown traffic format '.txt'" if name.endswith(".txt") else "holds no requests") in err.reason


def test_missing_file(tmp_path):
    path = tmp_path / "absent.jsonl"
    err = traffic_error(path)
    assert_where(err, path, None, None)
    assert "no such traffic file" in err.reason


def test_csv_row_with_more_values_than_headers(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,prompt\nq1,fine\nq2,too,many\n", encoding="utf-8")
    assert_where(traffic_error(path), path, 3, None)


def test_csv_metadata_that_is_not_json(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('id,prompt,metadata\nq1,fine,"{""a"": 1}"\nq2,fine,{plan: pro}\n', encoding="utf-8")
    assert_where(traffic_error(path), path, 3, "metadata")


def test_parquet_metadata_that_is_not_json(tmp_path):
    path = tmp_path / "t.parquet"
    duckdb.sql(f"COPY (SELECT 'q1' AS id, 'x' AS prompt, 0.1 AS difficulty, '{{oops' AS metadata) "
               f"TO '{path}' (FORMAT parquet)")
    assert_where(traffic_error(path), path, 1, "metadata")


@pytest.mark.parametrize("text, line, reason", [
    ('id,prompt\nq1,fine\nq2,"never closed\nq3,next\nq4,last\n', 3, "unterminated quote: the quoted value "
     "opened here never closes"),
    ('id,prompt\nq1,"a\nb"\nq2,"never closed\nq3,next\n', 4, "unterminated quote"),
    ('id,prompt\nq1,fine\nq2,"never closed\nq3,"ok"\n', 3, "the quoted value opened here closes on line 4 "
     "and is followed by 'o': a quote is missing or stray"),
], ids=["to-the-end", "after-a-multiline-value", "pairs-with-a-later-quote"])
def test_csv_unterminated_quote_names_the_line_it_opened(tmp_path, text, line, reason):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    err = traffic_error(path)
    assert_where(err, path, line, None)
    assert err.reason.startswith(reason)


def test_csv_keeps_line_breaks_inside_quoted_fields(tmp_path):
    path = write_csv(tmp_path / "t.csv", [{"id": "m1", "prompt": "Line one\nline two"}, plain(2)])
    first, second = load_traffic(path).requests
    assert first.prompt == "Line one\nline two"


# --- sampling ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo() -> list[Request]:
    return load_traffic(DEMO).requests


def test_sample_none_keeps_everything_in_file_order(demo):
    assert [r.id for r in sample_requests(demo, None, seed=1)] == [r.id for r in demo]


def test_sample_depends_on_the_seed_only(demo):
    ids = lambda seed: [r.id for r in sample_requests(demo, 50, seed=seed)]  # noqa: E731
    assert ids(3) == ids(3)
    assert ids(3) != ids(4)
    assert len(set(ids(3))) == 50
    assert ids(3) == sorted(ids(3))  # file order kept (demo ids are sequential)


def test_sample_more_than_the_file_without_replace(demo):
    with pytest.raises(TrafficError) as info:
        sample_requests(demo, len(demo) + 1, seed=1, source="x.jsonl")
    assert info.value.file == "x.jsonl"
    assert f"file holds {len(demo)}" in str(info.value)


def test_sample_with_replace_makes_unique_ids(demo):
    n = 3 * len(demo)
    picked = sample_requests(demo, n, seed=5, replace=True)
    assert len(picked) == n
    assert [r.id.rsplit("#", 1)[1] for r in picked] == [str(k) for k in range(n)]
    assert len({r.id for r in picked}) == n
    by_id = {r.id: r for r in demo}
    for r in picked:
        original = by_id[r.id.rsplit("#", 1)[0]]
        assert (r.prompt, r.category, r.expected) == (original.prompt, original.category, original.expected)
    assert [r.id for r in sample_requests(demo, n, seed=5, replace=True)] == [r.id for r in picked]


# --- arrival times ----------------------------------------------------------------------------------

def many(n: int) -> list[Request]:
    return [Request(id=f"a{i}", prompt="p") for i in range(n)]


def test_poisson_mean_gap_and_order():
    rate = 4.0
    reqs, times = arrival_times(many(20_000), PoissonArrival(process="poisson", rate_per_s=rate), seed=9)
    assert [r.id for r in reqs] == [f"a{i}" for i in range(20_000)]
    gaps = [b - a for a, b in zip([0.0, *times], times)]
    assert all(g > 0 for g in gaps)
    assert statistics.fmean(gaps) == pytest.approx(1 / rate, rel=0.03)


def test_poisson_depends_on_the_seed():
    spec = PoissonArrival(process="poisson", rate_per_s=2.0)
    times = lambda seed: arrival_times(many(100), spec, seed=seed)[1]  # noqa: E731
    assert times(1) == times(1)
    assert times(1) != times(2)


def test_recorded_arrival_uses_timestamps():
    reqs = stamped({"late": 90, "first": 0, "middle": 30})
    order, times = arrival_times(reqs, RecordedArrival(process="recorded"), seed=0)
    assert [r.id for r in order] == ["first", "middle", "late"]
    assert times == [0.0, 30.0, 90.0]
    _, fast = arrival_times(reqs, RecordedArrival(process="recorded", speedup=2), seed=0)
    assert fast == [0.0, 15.0, 45.0]


def test_recorded_arrival_reads_another_field_from_metadata():
    reqs = [Request(id="b", prompt="p", metadata={"sent": "2026-03-10T07:00:10Z"}),
            Request(id="a", prompt="p", metadata={"sent": "2026-03-10T07:00:00Z"})]
    order, times = arrival_times(reqs, RecordedArrival(process="recorded", field="sent"), seed=0)
    assert ([r.id for r in order], times) == (["a", "b"], [0.0, 10.0])


def test_recorded_arrival_needs_the_field_on_every_request():
    reqs = [*stamped({"ok": 0}), Request(id="unstamped", prompt="p")]
    with pytest.raises(TrafficError) as info:
        arrival_times(reqs, RecordedArrival(process="recorded"), seed=0, source="t.jsonl")
    err = info.value
    assert (err.file, err.field) == ("t.jsonl", "arrived_at")
    assert "'unstamped'" in str(err)


def test_demo_recorded_arrival_spans_the_day(demo):
    _, times = arrival_times(demo, RecordedArrival(process="recorded"), seed=0)
    assert times[0] == 0.0
    assert times == sorted(times)
    assert times[-1] == pytest.approx((20 * 3600 + 44 * 60) - (7 * 3600 + 5 * 60), abs=60)


def test_burst_raises_the_rate_inside_the_window():
    spec = BurstArrival(process="burst", rate_per_s=1.0,
                        bursts=[Burst(at_s=100, duration_s=100, rate_per_s=20.0)])
    _, times = arrival_times(many(6_000), spec, seed=11)
    assert times == sorted(times)
    inside = sum(100 <= t < 200 for t in times)
    outside = len(times) - inside
    base_per_s = outside / (times[-1] - 100)
    assert 14 < (inside / 100) / base_per_s < 26
    assert 80 < sum(t < 100 for t in times) < 120  # about 1/s before the burst


@pytest.mark.parametrize("spec", [
    PoissonArrival(process="poisson", rate_per_s=0.5),
    BurstArrival(process="burst", rate_per_s=0.5, bursts=[Burst(at_s=60, duration_s=30, rate_per_s=5)]),
    RecordedArrival(process="recorded", speedup=4),
], ids=["poisson", "burst", "recorded"])
def test_two_scenarios_see_the_same_arrivals(demo, spec):
    """Fairness: arrival times depend on requests, spec and seed, never on fleet or policy."""
    runs = []
    for file in ("support-baseline.yaml", "support-tiered.yaml"):
        scn = load_scenario(SCENARIOS / file)
        scn = scn.model_copy(update={"traffic": scn.traffic.model_copy(update={"arrival": spec})})
        picked = sample_requests(load_traffic(scn.traffic_path()).requests, 100, seed=scn.seed)
        order, times = arrival_times(picked, scn.traffic.arrival, seed=scn.seed)
        runs.append(([r.id for r in order], times))
    assert runs[0] == runs[1]
    assert len(runs[0][1]) == 100
