"""Fetching RouteLLM's files, against a real HTTP server on loopback (never the internet): the layout
the importer reads, the public URLs, and errors that name the URL and leave no partial file."""

from __future__ import annotations

import http.server
import shutil
import threading
from functools import partial

import pytest
from conftest import routellm_dir

from workbench.datasets import DownloadError, fetch_routellm, import_routellm
from workbench.datasets.fetch import MMLU_SUBJECTS, routellm_files
from workbench.store.outcomes import OutcomeStore

SRC = routellm_dir()
SUBJECTS = ("anatomy", "virology")


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/cut/"):  # announces 1,000 bytes, sends 10, hangs up
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"prompt,x\n1")
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """Serve a copy of a few of the shared files in the public repositories' layout; yield the base URL."""
    root = tmp_path / "www"
    (root / "routellm/evals/gsm8k").mkdir(parents=True)
    (root / "routellm/evals/mmlu/responses").mkdir(parents=True)
    (root / "grade_school_math/data").mkdir(parents=True)
    shutil.copy(SRC / "gsm8k/gsm8k_responses.csv", root / "routellm/evals/gsm8k/")
    shutil.copy(SRC / "gsm8k/test.jsonl", root / "grade_school_math/data/")
    for s in SUBJECTS:
        shutil.copy(SRC / f"mmlu/mmlu_{s}.csv", root / "routellm/evals/mmlu/responses/")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_fetch_writes_the_layout_the_importer_reads(server, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    seen = []
    folder = fetch_routellm(base_url=server, gsm8k_base_url=server, subjects=SUBJECTS,
                            progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert folder == tmp_path / "data" / "downloads" / "routellm"
    for rel in ("gsm8k/gsm8k_responses.csv", "gsm8k/test.jsonl", "mmlu/mmlu_anatomy.csv", "mmlu/mmlu_virology.csv"):
        assert (folder / rel).read_bytes() == (SRC / rel).read_bytes(), rel
    assert seen == [("download", i, 4) for i in range(1, 5)]
    assert import_routellm(folder) == ["routellm-gsm8k", "routellm-mmlu"]
    with OutcomeStore("routellm-mmlu") as ds:
        assert ds.info().prompts == 135 + 166  # anatomy and virology
        assert set(ds.prompts().category) == set(SUBJECTS)
    with OutcomeStore("routellm-gsm8k") as ds:
        assert ds.info().prompts == 1319


def test_a_404_names_the_url_and_leaves_no_partial_file(server, tmp_path):
    dest = tmp_path / "dl"
    with pytest.raises(DownloadError) as err:
        fetch_routellm(dest, base_url=server, gsm8k_base_url=server, subjects=("anatomy", "astrology"))
    assert str(err.value) == f"{server}routellm/evals/mmlu/responses/mmlu_astrology.csv: HTTP 404 File not found"
    assert sorted(p.name for p in (dest / "mmlu").iterdir()) == ["mmlu_anatomy.csv"]  # no .part, no astrology


def test_a_cut_connection_leaves_no_partial_file(server, tmp_path):
    with pytest.raises(DownloadError) as err:
        fetch_routellm(tmp_path / "dl", base_url=server + "cut/", gsm8k_base_url=server)
    assert str(err.value).startswith(f"{server}cut/routellm/evals/gsm8k/gsm8k_responses.csv: ")
    assert not any(p.is_file() for p in (tmp_path / "dl").rglob("*"))


def test_a_refused_connection_is_one_error(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=rf"http://127.0.0.1:{port}/routellm/.*: download failed"):
        fetch_routellm(tmp_path / "dl", base_url=f"http://127.0.0.1:{port}",
                       gsm8k_base_url=f"http://127.0.0.1:{port}")


def test_the_public_urls_and_the_57_subjects():
    assert sorted(MMLU_SUBJECTS) == sorted(p.stem[5:] for p in (SRC / "mmlu").glob("mmlu_*.csv"))
    assert len(MMLU_SUBJECTS) == 57
    files = routellm_files()
    assert len(files) == 59
    assert files[0] == ("https://raw.githubusercontent.com/lm-sys/RouteLLM/main/routellm/evals/gsm8k/"
                        "gsm8k_responses.csv", "gsm8k/gsm8k_responses.csv")
    assert files[1] == ("https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/"
                        "test.jsonl", "gsm8k/test.jsonl")
    assert ("https://raw.githubusercontent.com/lm-sys/RouteLLM/main/routellm/evals/mmlu/responses/mmlu_virology.csv",
            "mmlu/mmlu_virology.csv") in files


def test_the_fetch_command_downloads_then_imports_and_says_so(server, tmp_path, monkeypatch, capsys):
    import workbench.datasets as wd
    from workbench.cli import main

    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    real = wd.fetch_routellm
    monkeypatch.setattr(wd, "fetch_routellm", lambda dest, progress: real(
        dest, base_url=server, gsm8k_base_url=server, subjects=("anatomy",), progress=progress))
    assert main(["datasets", "fetch", "routellm", "--price", "gpt-4-1106-preview=1,2"]) == 0
    out, err = capsys.readouterr()
    assert "downloading RouteLLM's outcome files" in err
    assert f"downloaded into {tmp_path / 'data' / 'downloads' / 'routellm'}; importing" in err
    assert out.startswith("routellm-gsm8k: 1,319 prompts") and "routellm-mmlu: 135 prompts" in out
    assert "$1 / $2 (override)" in out
