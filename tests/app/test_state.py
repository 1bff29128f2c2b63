"""The app's state without a browser: the draft (text, form data, validation, save), the run plan."""

from __future__ import annotations

import shutil

import pytest
from conftest import SCENARIOS

from workbench.app import edits
from workbench.app.state import DRAFT, AppState, ScenarioDraft, list_scenarios, validate_text
from workbench.errors import InputError


@pytest.fixture
def folder(tmp_path):
    """A scenarios folder with the two support designs and their traffic."""
    for name in ("support-baseline.yaml", "support-tiered.yaml"):
        shutil.copy(SCENARIOS / name, tmp_path / name)
    shutil.copytree(SCENARIOS / "traffic", tmp_path / "traffic")
    return tmp_path


def test_draft_text_form_and_validation_stay_in_step(folder):
    draft = ScenarioDraft(folder=str(folder))
    draft.load(folder / "support-baseline.yaml")
    assert draft.error == "" and draft.scenario.name == "support-baseline" and draft.routes() == ["large"]
    draft.edit(edits.set_model, "large", "gpt-4o-mini")
    draft.edit(edits.add_fallback, "large", "large")
    line = draft.text.splitlines().index("fallbacks:") + 3  # fallbacks:, large:, - {to: large}
    assert draft.scenario is None and draft.routes() is None
    assert draft.error == (f"{folder / 'support-baseline.yaml'}:{line}, field 'fallbacks.large[0].to': "
                           "a model cannot fall back to itself")
    draft.edit(edits.remove_fallback, "large", 0)
    assert draft.error == "" and draft.scenario.fleet["large"].model == "gpt-4o-mini"
    good = dict(draft.data)
    draft.text = draft.text.replace("fleet:", "fleet: [")  # not YAML any more: the form keeps the last data
    assert not draft.yaml_ok and draft.data == good and "invalid YAML" in draft.error
    with pytest.raises(InputError, match="fix it in the editor before using the form"):
        draft.edit(edits.set_field, "seed", 3)


def test_save_as_never_overwrites_and_names_the_design(folder):
    draft = ScenarioDraft(folder=str(folder))
    draft.load(folder / "support-tiered.yaml")
    original = (folder / "support-tiered.yaml").read_text()
    with pytest.raises(InputError, match="already exists: choose another name"):
        draft.save_as("support-tiered")
    with pytest.raises(InputError, match="is not a plain file name"):
        draft.save_as("../escape")
    path = draft.save_as("tiered-copy.yaml")
    assert path == folder / "tiered-copy.yaml" and draft.path == str(path)
    saved = path.read_text()
    assert saved == original.replace("name: support-tiered", "name: tiered-copy")  # comments kept
    assert (folder / "support-tiered.yaml").read_text() == original
    draft.text = saved.replace("concurrency: 32", "concurrency: 0")
    with pytest.raises(InputError, match="not saved: fix the design first"):
        draft.save_as("broken")
    assert not (folder / "broken.yaml").exists()


def test_listing_names_a_broken_file(folder):
    (folder / "broken.yaml").write_text("name: broken\nfleet: {}\n")
    rows = {r["file"]: r for r in list_scenarios(folder)}
    assert rows["support-tiered.yaml"]["models"] == "small: gpt-4o-mini, large: gpt-4o"
    assert rows["support-tiered.yaml"]["mode"] == "simulated" and rows["support-tiered.yaml"]["error"] == ""
    assert rows["broken.yaml"]["error"].startswith(f"{folder / 'broken.yaml'}:2, field 'fleet'")


def test_policy_params_are_validated_like_a_run(folder):
    text = (folder / "support-baseline.yaml").read_text().replace("{target: large}", "{target: small}")
    scn, error = validate_text(text, folder / "x.yaml")
    assert scn is None and error.endswith("field 'router.params.target': unknown target 'small' (known: large)")


def test_run_plan_writes_arrival_into_the_first_scenario_only(folder):
    state = AppState(db=str(folder / "t.duckdb"), scenarios_dir=str(folder))
    state.draft.load(folder / "support-tiered.yaml")
    state.draft.edit(edits.set_field, "name", "edited")
    state.traffic.param.update(process="poisson", rate_per_s=0.5, sample=40, seed=9)
    first, second = state.plan_run(["support-baseline.yaml", DRAFT])
    assert first.name == "support-baseline" and second.name == "edited"
    assert first.traffic.arrival.process == "poisson" and first.traffic.arrival.rate_per_s == 0.5
    assert first.traffic.sample is None  # the sample and seed go to prepare_many, as --requests/--seed do
    assert second.traffic.arrival.process == "recorded"  # replayed over the first one's traffic anyway
    assert state.traffic.run_options() == {"traffic": None, "requests": 40, "seed": 9}
    assert state.traffic_base()[1] == folder / "support-tiered.yaml"  # nothing picked yet: the draft
    state.run_names = ["support-baseline.yaml", DRAFT]
    assert state.traffic_base() == ((folder / "support-baseline.yaml").read_text(), folder / "support-baseline.yaml")
    state.run_names = [DRAFT]
    assert state.traffic_base() == (state.draft.text, folder / "support-tiered.yaml")
    state.draft.text = "name: [broken"
    with pytest.raises(InputError, match="the editor's draft is not valid"):
        state.plan_run(["support-baseline.yaml", DRAFT])
    with pytest.raises(InputError, match="pick at least one scenario"):
        state.plan_run([])


def test_dirty_save_over_with_consent_delete_and_duplicate(folder):
    from workbench.app.state import delete_scenario, duplicate_scenario

    draft = ScenarioDraft(folder=str(folder))
    draft.load(folder / "support-baseline.yaml")
    assert not draft.dirty
    draft.edit(edits.set_field, "seed", 99)
    assert draft.dirty
    with pytest.raises(InputError, match="already exists: choose another name"):
        draft.save_as("support-tiered")  # save-as never replaces a file unless asked to
    assert "seed: 99" not in (folder / "support-tiered.yaml").read_text()
    written = draft.save()  # over the file it came from (the page asks first)
    assert written == folder / "support-baseline.yaml" and not draft.dirty
    assert "seed: 99" in written.read_text() and "name: support-baseline" in written.read_text()
    replaced = draft.save_as("support-tiered.yaml", overwrite=True)
    assert "seed: 99" in replaced.read_text() and "name: support-tiered" in replaced.read_text()
    copy = duplicate_scenario(folder, "support-tiered.yaml")
    again = duplicate_scenario(folder, "support-tiered.yaml")
    assert (copy.name, again.name) == ("support-tiered-copy.yaml", "support-tiered-copy-2.yaml")
    assert "name: support-tiered-copy-2" in again.read_text() and validate_text(again.read_text(), again)[0]
    assert delete_scenario(folder, copy.name) == copy and not copy.exists()
    with pytest.raises(InputError, match="no such scenario file"):
        delete_scenario(folder, "../support-tiered.yaml")
    with pytest.raises(InputError, match="a new design has no file yet"):
        ScenarioDraft(folder=str(folder)).save()
    fresh = ScenarioDraft(folder=str(folder))
    fresh.start("name: x\n")
    assert not fresh.dirty and fresh.path == ""
