"""``human_label``: labels read from CSV or JSONL beside the scenario; every malformed row named."""

from __future__ import annotations

import hashlib
import json

import pytest

from workbench.errors import InputError, ScenarioError
from workbench.graders.human_label import load_labels
from workbench.traffic import Request


def req(rid: str) -> Request:
    return Request(id=rid, prompt="q")


def test_csv_beside_the_scenario(make_graders, tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "week1.csv").write_text(
        "request_id,score,note\n"
        "r0001,1,\"fine,\nsaid Ana\"\n"  # a quoted note over two lines
        "r0002,0.25,partly right\n"
        "r0003,,not labelled yet\n"
        "r0004,0,wrong\n", encoding="utf-8")
    (grader,) = make_graders("- {type: human_label, params: {file: labels/week1.csv}}")
    assert [grader.score(req(f"r000{i}"), "any answer", 0.9) for i in range(1, 6)] == [1.0, 0.25, None, 0.0, None]
    assert grader.score(req("r0002"), None, None) == 0.25  # a label scores the request
    assert grader.path == tmp_path / "labels" / "week1.csv"
    assert grader.sha256 == hashlib.sha256(grader.path.read_bytes()).hexdigest()


def test_jsonl_with_own_field_names_and_absolute_path(make_graders, tmp_path):
    path = tmp_path / "elsewhere" / "labels.jsonl"
    path.parent.mkdir()
    rows = [{"ticket": 17, "grade": 0.5}, {"ticket": "a-2", "grade": 1}, {"ticket": "a-3", "grade": None}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    params = f"{{file: '{path}', id_field: ticket, score_field: grade}}"
    (grader,) = make_graders(f"- type: human_label\n  params: {params}")
    assert [grader.score(req(r), "x", None) for r in ["17", "a-2", "a-3"]] == [0.5, 1.0, None]


@pytest.mark.parametrize("name, content, line, field, message", [
    ("l.csv", "id,score\nr1,1\n", 1, "request_id", "no column 'request_id' (columns: id, score)"),
    ("l.csv", "request_id,score\nr1,1\nr2,yes\n", 3, "score", "score 'yes' is not a number"),
    ("l.csv", "request_id,score\nr1,1\nr2,nan\n", 3, "score", "score 'nan' is not a number"),
    ("l.csv", "request_id,score,note\nr1,1,\"a\nb\"\nr2,5,x\n", 4, "score", "score '5' is outside [0, 1]"),
    ("l.csv", "request_id,score\nr1,1\nr2,0\nr1,0\n", 4, "request_id",
     "request 'r1' is labelled twice (first on line 2)"),
    ("l.csv", "request_id,score\n,1\n", 2, "request_id", "a request id must be a non-empty string or integer"),
    ("l.csv", "", 1, "request_id", "no column 'request_id' (columns: none)"),
    ("l.jsonl", '{"request_id": "r1", "score": 1}\n{"request_id": "r2", "score": -0.1}\n', 2, "score",
     "score -0.1 is outside [0, 1]"),
    ("l.jsonl", '{"request_id": "r1", "score": 1}\n{"request_id": "r2"}\n', 2, "score", "no key 'score'"),
    ("l.jsonl", '{"request_id": "r1", "score": 1}\n{"request_id": "r2", "score": 1,\n', 2, None, "invalid JSON"),
    ("l.jsonl", '[1, 2]\n', 1, None, "each line must be a JSON object"),
    ("l.jsonl", '{"request_id": true, "score": 1}\n', 1, "request_id", "not True"),
    ("l.jsonl", '{"request_id": "r1", "score": true}\n', 1, "score", "score True is not a number"),
    ("l.tsv", "request_id\tscore\n", None, None, "unknown label file format '.tsv' (use .csv or .jsonl)"),
])
def test_malformed_file_names_file_line_and_field(make_graders, tmp_path, name, content, line, field, message):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as info:
        make_graders(f"- {{type: human_label, params: {{file: {name}}}}}")
    err = info.value
    assert not isinstance(err, ScenarioError)  # the label file is at fault, not the scenario
    assert (err.file, err.line, err.field) == (str(tmp_path / name), line, field), str(err)
    assert message in str(err), str(err)


def test_not_utf8_is_named(tmp_path):
    path = tmp_path / "l.csv"
    path.write_bytes(b"request_id,score\nr\xe9,1\n")
    with pytest.raises(InputError, match=r"l\.csv: not UTF-8 text \(byte 18\)"):
        load_labels(path)


def test_missing_file_or_param_is_a_scenario_error(make_graders, tmp_path):
    with pytest.raises(ScenarioError) as info:
        make_graders("- type: exact\n- {type: human_label, params: {file: missing.csv}}")
    assert (info.value.file, info.value.line, info.value.field) == (
        str(tmp_path / "s.yaml"), 9, "graders[1].params.file")
    assert f"no such label file: {tmp_path / 'missing.csv'}" in str(info.value)
    with pytest.raises(ScenarioError, match=r"graders\[0\]\.params\.file': Field required"):
        make_graders("- type: human_label")
