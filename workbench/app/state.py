"""The app's state as ``param`` objects: the scenario being edited, the traffic choice, the store.

Why ``param``: views bind widgets to these parameters, and tests drive the same objects without a
browser. Why the YAML text is the draft's one source of truth: the form and the code editor must
never disagree; the form edits the round-trip tree the text parses to (:mod:`workbench.app.edits`:
only the fields edited change, comments stay) and writes the text back, the editor writes the text
directly, and every change of the text is validated by the scenario's own parser (the same file:line
field message as ``workbench run``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import param
from param.parameters import NoNone

from workbench import yamlio
from workbench.app import edits
from workbench.app.jobs import RunJob, open_store
from workbench.app.sources import TrafficChoice
from workbench.errors import InputError, WorkbenchError
from workbench.graders import build_graders
from workbench.policies import build_policy
from workbench.rollout.plan import is_plan_file, is_plan_text
from workbench.scenario import Scenario, parse_scenario
from workbench.store import TraceStore
from workbench.store.runs import runs_version

__all__ = ["ScenarioDraft", "AppState", "validate_text", "list_scenarios", "delete_scenario", "duplicate_scenario",
           "DRAFT"]

#: Name of the editor's draft among the scenarios a run can pick.
DRAFT = "(editor draft)"
_UNSAVED = "unsaved.yaml"


def validate_text(text: str, source: str | Path) -> tuple[Scenario | None, str]:
    """``(scenario, "")`` when ``text`` is a runnable design, else ``(None, one-line message)``.

    Runnable: the scenario parses and cross-checks, and its policy and graders build (their params
    are checked with the file, line and field).
    """
    try:
        scn = parse_scenario(text, source=source)
        build_policy(scn)
        build_graders(scn)
    except WorkbenchError as exc:
        return None, str(exc)
    except (ValueError, TypeError, KeyError) as exc:  # a policy's own check that is not yet an InputError
        return None, f"{source}: {type(exc).__name__}: {exc}"
    return scn, ""


class ScenarioDraft(param.Parameterized):
    """One scenario being edited, as YAML text, with its parsed data and its validation."""

    path = param.String(default="", doc="file the draft was read from or saved to ('' when new)")
    folder = param.String(default="scenarios", doc="where relative traffic paths of a new draft resolve")
    text = param.String(default="")
    data = param.Dict(default={}, doc="the last YAML mapping the text parsed to (drives the form)")
    yaml_ok = param.Boolean(default=False, doc="the text is a YAML mapping (the form can show it)")
    error = param.String(default="", doc="'' when the design is runnable, else the parser's message")
    saved_text = param.String(default="", doc="the text as last read or written (the draft is dirty when it differs)")

    def __init__(self, **params):
        super().__init__(**params)
        self._scenario: Scenario | None = None
        self._check()

    @property
    def source(self) -> Path:
        """The file named in messages; relative traffic paths resolve beside it."""
        return Path(self.path) if self.path else Path(self.folder) / _UNSAVED

    @property
    def dirty(self) -> bool:
        """True when the text has edits not written to a file."""
        return self.text != self.saved_text

    def start(self, text: str) -> None:
        """Edit a new, unsaved design starting from ``text`` (it counts as unedited)."""
        self.path = ""
        self.text = self.saved_text = text

    @property
    def scenario(self) -> Scenario | None:
        """The validated scenario (None while the text has an error)."""
        return self._scenario

    def routes(self) -> list[str] | None:
        """Targets the validated policy can route to, in order (None while the draft is invalid)."""
        if self._scenario is None:
            return None
        return list(dict.fromkeys(build_policy(self._scenario).referenced_targets().values()))

    @param.depends("text", watch=True)
    def _check(self) -> None:
        try:
            _, data, _ = yamlio.read_tree(self.text, str(self.source), InputError)  # the form's plain data
        except InputError:
            data = None
        if isinstance(data, dict):
            self.param.update(data=data, yaml_ok=True)
        else:
            self.yaml_ok = False
        self._scenario, self.error = validate_text(self.text, self.source)

    def load(self, path: str | Path) -> None:
        """Edit the scenario file ``path``."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read: {exc}", file=p) from None
        self.path = str(p)
        self.text = self.saved_text = text

    def edit(self, fn: Callable[..., None], *args: Any, **kw: Any) -> None:
        """Apply a form edit (a function of :mod:`edits`) to the data and rewrite the text."""
        if not self.yaml_ok:
            raise InputError("the YAML does not parse: fix it in the editor before using the form")
        tree = edits.load_yaml_data(self.text)  # a fresh tree of the text: comments and layout kept
        fn(tree, *args, **kw)
        self.text = edits.dump_yaml(tree)

    def target_of(self, filename: str) -> Path:
        """The file ``filename`` names in the draft's folder (InputError unless it is a plain name)."""
        stem = filename.strip().removesuffix(".yaml").removesuffix(".yml")
        if not stem or Path(stem).name != stem or stem.startswith("."):
            raise InputError(f"'{filename}' is not a plain file name (no folders)", field="save as")
        return Path(self.folder) / f"{stem}.yaml"

    def save_as(self, filename: str, *, overwrite: bool = False) -> Path:
        """Write the draft to ``filename`` in its folder; an existing file only with ``overwrite=True``
        (the page asks first). Returns the path written.

        The draft's ``name:`` becomes the file's stem, so that runs of the new design are told apart
        from runs of the design it was copied from.
        """
        target = self.target_of(filename)
        if self._scenario is None:
            raise InputError(f"not saved: fix the design first ({self.error})")
        if target.exists() and not overwrite:
            raise InputError("already exists: choose another name (files are never overwritten)", file=target)
        text = edits.set_name_line(self.text, target.stem)
        scn, error = validate_text(text, target)
        if scn is None:
            raise InputError(f"not saved: {error}")
        try:
            with target.open("w" if overwrite else "x", encoding="utf-8") as f:  # "x": fails if created meanwhile
                f.write(text)
        except OSError as exc:
            raise InputError(f"cannot write: {exc}", file=target) from None
        self.path = str(target)
        self.text = self.saved_text = text
        return target

    def save(self) -> Path:
        """Write the draft over the file it was read from (the page asks first)."""
        if not self.path:
            raise InputError("a new design has no file yet: use Save as")
        return self.save_as(Path(self.path).name, overwrite=True)


def list_scenarios(folder: str | Path) -> list[dict]:
    """The scenario files of ``folder`` (``*.yaml``), each with its name, policy, models and any error."""
    out = []
    for path in sorted(Path(folder).glob("*.yaml")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if is_plan_text(text):  # a rollout plan is not a design (the Rollout page lists those)
            continue
        scn, error = validate_text(text, path)
        row = {"file": path.name, "name": "", "mode": "", "policy": "", "models": "", "error": error}
        if scn is not None:
            row.update(name=scn.name, mode=scn.mode, policy=scn.router.policy,
                       models=", ".join(f"{k}: {m.model}" for k, m in scn.fleet.items()))
        out.append(row)
    return out


def delete_scenario(folder: str | Path, filename: str) -> Path:
    """Delete the scenario file ``filename`` of ``folder`` (the page asks first); returns its path."""
    path = Path(folder) / filename
    if Path(filename).name != filename or path.suffix != ".yaml" or not path.is_file():
        raise InputError("no such scenario file", file=path)
    try:
        path.unlink()
    except OSError as exc:
        raise InputError(f"cannot delete: {exc}", file=path) from None
    return path


def duplicate_scenario(folder: str | Path, filename: str) -> Path:
    """Copy ``filename`` to the first free ``<stem>-copy[-N].yaml`` beside it, its ``name:`` set to the new
    stem (so its runs are told apart); never overwrites. Returns the new file."""
    source = Path(folder) / filename
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=source) from None
    n, target = 1, Path(folder) / f"{source.stem}-copy.yaml"
    while target.exists():
        n += 1
        target = Path(folder) / f"{source.stem}-copy-{n}.yaml"
    with target.open("x", encoding="utf-8") as f:
        f.write(edits.set_name_line(text, target.stem))
    return target


class AppState(param.Parameterized):
    """Everything one browser session works on: the store, the scenarios folder, draft, traffic, job."""

    db = param.String(default="workbench.duckdb")
    scenarios_dir = param.String(default="scenarios")
    # NoNone: set in __init__, never None after it (and typed so)
    draft = param.ClassSelector(class_=ScenarioDraft, allow_None=NoNone)
    traffic = param.ClassSelector(class_=TrafficChoice, allow_None=NoNone, doc="what the next run replays")
    job = param.ClassSelector(class_=RunJob, allow_None=NoNone)
    finished_runs = param.List(default=[], doc="run ids of the last finished job (Compare and Audit start there)")
    run_names = param.List(default=[], doc="scenarios picked on the Run page, in order (file names or DRAFT)")
    runs_changed = param.Integer(default=0, doc="bumped when the stored runs changed (a job finished, a run was "
                                 "labelled, renamed or deleted, here or by another process): the pages over runs "
                                 "re-read the store on it, and only on it")
    audit_run = param.String(default="", doc="a run another page asks the Audit page to open ('' none)")
    audit_filter = param.Dict(default={}, doc="the requests behind a figure Compare traced: run_id and any of "
                              "status, target, category, flag (workbench.store.export.FLAGS), and why (the figure)")

    def __init__(self, **params):
        super().__init__(**params)
        if self.draft is None:
            self.draft = ScenarioDraft(folder=self.scenarios_dir)
        if self.traffic is None:
            self.traffic = TrafficChoice(folder=str(Path(self.scenarios_dir) / "traffic"))
        if self.job is None:
            self.job = RunJob()
        self._runs_version: tuple | None = None

    def check_runs(self, *, announce: bool = True) -> bool:
        """Read the store's cheap fingerprint of its runs (:func:`runs_version`); when it changed since the
        last check, bump ``runs_changed`` (unless ``announce`` is False: the caller has updated the pages
        itself). True when it changed."""
        with self.store() as st:
            version = runs_version(st)
        if version == self._runs_version:
            return False
        self._runs_version = version
        if announce:
            self.runs_changed += 1
        return True

    @contextmanager
    def store(self) -> Iterator[TraceStore]:
        """The trace store, opened for one operation (so other processes can use the file between);
        StoreLockedError with one clear line when another process holds it."""
        with open_store(self.db) as st:
            yield st

    def scenario_files(self) -> list[Path]:
        """The ``*.yaml`` design files of the scenarios folder (rollout plans left out)."""
        return [p for p in sorted(Path(self.scenarios_dir).glob("*.yaml")) if not is_plan_file(p)]

    def plan_files(self) -> list[Path]:
        """The rollout plans of the scenarios folder (``workbench rollout --plan``)."""
        return [p for p in sorted(Path(self.scenarios_dir).glob("*.yaml")) if is_plan_file(p)]

    def plan_run(self, names: list[str]) -> list[Scenario]:
        """The scenarios to replay, in order: file names of the folder or :data:`DRAFT`.

        A dataset or arrival process chosen on the Traffic page is written into the first scenario's
        YAML (so the stored design says what ran); the others are replayed over the first one's
        traffic, sample and seed, as ``workbench compare`` does.
        """
        if not names:
            raise InputError("pick at least one scenario to run")
        out = []
        for i, name in enumerate(names):
            if name == DRAFT:
                if self.draft.scenario is None:
                    raise InputError(f"the editor's draft is not valid: {self.draft.error}")
                text, source = self.draft.text, self.draft.source
            else:
                source = Path(self.scenarios_dir) / name
                text = source.read_text(encoding="utf-8")
            if i == 0:
                text = self.traffic.apply_to_text(text, full=False)
            scn, error = validate_text(text, source)
            if scn is None:
                raise InputError(error)
            out.append(scn)
        return out

    def traffic_base(self) -> tuple[str, Path]:
        """The YAML and file of the scenario whose traffic settings fill what the Traffic page leaves open:
        the first one picked on the Run page, else the editor's draft, else the folder's first file."""
        first = self.run_names[0] if self.run_names else None
        if first == DRAFT or (first is None and self.draft.scenario is not None):
            return self.draft.text, self.draft.source
        files = [Path(self.scenarios_dir) / first] if first else self.scenario_files()
        if not files:
            raise InputError("no scenario to take the traffic settings from", file=self.scenarios_dir)
        return files[0].read_text(encoding="utf-8"), files[0]

    def start_run(self, names: list[str]) -> None:
        """Start the background job for ``names`` (see :meth:`plan_run`)."""
        self.job.start(self.plan_run(names), self.db, **self.traffic.run_options())
