"""Download RouteLLM's public outcome files for users who are online (tests never reach the internet).

Why plain ``urllib`` into the data directory, in the layout of the test copy: no new dependency, and the
downloaded folder is exactly what ``workbench datasets import routellm PATH`` reads, so a user can
inspect, keep or delete the raw files. Each file is written to a ``.part`` file and renamed only when
complete (and as long as the server announced), so a failed download leaves no partial file behind.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from workbench.datasets.generic import Progress
from workbench.errors import WorkbenchError
from workbench.store.outcomes import data_dir

__all__ = ["fetch_routellm", "routellm_files", "DownloadError", "ROUTELLM_BASE_URL", "GSM8K_BASE_URL",
           "MMLU_SUBJECTS"]

ROUTELLM_BASE_URL = "https://raw.githubusercontent.com/lm-sys/RouteLLM/main/"
GSM8K_BASE_URL = "https://raw.githubusercontent.com/openai/grade-school-math/master/"
#: The 57 MMLU subjects of RouteLLM's ``routellm/evals/mmlu/responses/mmlu_<subject>.csv``.
MMLU_SUBJECTS = (
    "abstract_algebra anatomy astronomy business_ethics clinical_knowledge college_biology college_chemistry "
    "college_computer_science college_mathematics college_medicine college_physics computer_security "
    "conceptual_physics econometrics electrical_engineering elementary_mathematics formal_logic global_facts "
    "high_school_biology high_school_chemistry high_school_computer_science high_school_european_history "
    "high_school_geography high_school_government_and_politics high_school_macroeconomics "
    "high_school_mathematics high_school_microeconomics high_school_physics high_school_psychology "
    "high_school_statistics high_school_us_history high_school_world_history human_aging human_sexuality "
    "international_law jurisprudence logical_fallacies machine_learning management marketing medical_genetics "
    "miscellaneous moral_disputes moral_scenarios nutrition philosophy prehistory professional_accounting "
    "professional_law professional_medicine professional_psychology public_relations security_studies "
    "sociology us_foreign_policy virology world_religions").split()
_TIMEOUT_S = 60


class DownloadError(WorkbenchError):
    """A file could not be downloaded (HTTP error, network down); names the URL."""


def routellm_files(base_url: str = ROUTELLM_BASE_URL, gsm8k_base_url: str = GSM8K_BASE_URL,
                   subjects: Sequence[str] = MMLU_SUBJECTS) -> list[tuple[str, str]]:
    """``(url, relative destination)`` of every file to fetch, in the test copy's layout."""
    base, gbase = base_url.rstrip("/") + "/", gsm8k_base_url.rstrip("/") + "/"
    files = [(base + "routellm/evals/gsm8k/gsm8k_responses.csv", "gsm8k/gsm8k_responses.csv"),
             (gbase + "grade_school_math/data/test.jsonl", "gsm8k/test.jsonl")]
    files += [(f"{base}routellm/evals/mmlu/responses/mmlu_{s}.csv", f"mmlu/mmlu_{s}.csv") for s in subjects]
    return files


def _download(url: str, dest: Path) -> int:
    part = dest.with_name(f".{dest.name}.part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as resp, part.open("wb") as out:
            announced = resp.headers.get("Content-Length")
            size = 0
            while chunk := resp.read(1 << 16):
                out.write(chunk)
                size += len(chunk)
        if announced is not None and announced.isdigit() and int(announced) != size:
            raise DownloadError(f"{url}: got {size:,} of {int(announced):,} bytes (connection cut); try again")
        os.replace(part, dest)
        return size
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the response's socket
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"{url}: download failed: {reason}") from None
    finally:
        part.unlink(missing_ok=True)


def fetch_routellm(dest: str | Path | None = None, *, base_url: str = ROUTELLM_BASE_URL,
                   gsm8k_base_url: str = GSM8K_BASE_URL, subjects: Sequence[str] = MMLU_SUBJECTS,
                   progress: Progress | None = None) -> Path:
    """Download RouteLLM's GSM8K and MMLU outcome files (and GSM8K's test set) into ``dest``.

    ``dest`` defaults to ``data_dir()/downloads/routellm``; returns it, ready for
    :func:`~workbench.datasets.import_routellm`.
    """
    root = Path(dest).expanduser() if dest is not None else data_dir() / "downloads" / "routellm"
    files = routellm_files(base_url, gsm8k_base_url, subjects)
    for i, (url, rel) in enumerate(files, 1):
        _download(url, root / rel)
        if progress is not None:
            progress("download", i, len(files))
    return root
