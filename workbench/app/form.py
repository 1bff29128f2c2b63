"""The scenario as a form: general fields, fleet with a catalog model picker, fallbacks, humans,
router, budget.

Why every widget edits the draft through :mod:`workbench.app.edits` and never holds state of its own:
the YAML editor beside the form shows the same draft, so the form is redrawn from the draft's data
after every change (with a guard, so redrawing does not count as an edit). Prices and context windows
shown next to each model come from litellm's catalog via :mod:`workbench.app.models`.
"""

from __future__ import annotations

import json

import pandas as pd
import panel as pn

from workbench.app import edits, models
from workbench.app.diagram import errors_label
from workbench.app.safe import html, join, text
from workbench.app.state import ScenarioDraft
from workbench.app.ui import Messages, guarded
from workbench.policies import get_policy, policy_names
from workbench.scenario import HumanSpec

__all__ = ["ScenarioForm"]

_BUDGET_DEFAULT = 50.0  # what the Budget card offers for a design without a budget


def _section(data: dict, key: str) -> dict:
    """``data[key]`` when it is a mapping, else {} (the YAML may be half-written)."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _row(*widgets) -> pn.FlexBox:
    """Widgets side by side that wrap onto the next line when the form is narrow (a 1280 px window)."""
    return pn.FlexBox(*widgets, flex_wrap="wrap", align_items="flex-end", sizing_mode="stretch_width")


def _fleet_frame(fleet: dict) -> pd.DataFrame:
    rows = []
    for name, spec in fleet.items():
        spec = spec if isinstance(spec, dict) else {}
        rows.append({"name": name, "model": spec.get("model", ""), "provider": spec.get("provider", "simulated"),
                     "price and window": models.describe_model(str(spec.get("model", "")), spec.get("price"),
                                                               spec.get("context_window")).split(": ", 1)[-1]})
    return pd.DataFrame(rows, columns=["name", "model", "provider", "price and window"])


def _humans_frame(humans: dict) -> pd.DataFrame:
    default = {"accuracy": HumanSpec.model_fields["accuracy"].default}  # what the replay uses when omitted
    rows = [{"name": n, **default, **(h if isinstance(h, dict) else {})} for n, h in humans.items()]
    return pd.DataFrame(rows, columns=["name", "agents", "handling_time_s", "cost_per_request_usd", "accuracy"])


def _policy_help(policy: str) -> str:
    try:
        cls = get_policy(policy)
    except KeyError:
        return f"unknown policy '{policy}'"
    schema = cls.Params.model_json_schema()
    required = set(schema.get("required", []))
    names = ", ".join(f"**{k}**" if k in required else k for k in schema.get("properties", {}))
    doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    return f"{doc} Params: {names or '(none)'} (bold: required)."


class ScenarioForm:
    """Form widgets over a :class:`ScenarioDraft`; ``panel`` is the layout."""

    def __init__(self, draft: ScenarioDraft, messages: Messages):
        self.draft, self.msg, self._syncing = draft, messages, False
        self._g = guarded(messages)
        self.panel = pn.Column(
            self._card("general", "General", self._general),
            self._card("fleet", "Fleet (click a catalog row to put that model on the selected fleet model)",
                       self._fleet),
            self._card("fallbacks", "Fallback chain of the selected fleet model", self._fallbacks),
            self._card("humans", "Human nodes", self._humans),
            self._card("router", "Router", self._router),
            self._card("budget", "Budget", self._budget),
            sizing_mode="stretch_width", min_width=420)

    def _card(self, key: str, title: str, build) -> pn.Card:
        """A card whose errors show in its own message box, at the bottom of the card (beside its buttons)."""
        box = Messages(f"form-{key}")
        self._g = guarded(box)
        return pn.Card(*build(), box.pane, title=title, sizing_mode="stretch_width", margin=(4, 4))

    def _button(self, label: str, action, width: int, primary: bool = True) -> pn.widgets.Button:
        button = pn.widgets.Button(label=label, color="primary" if primary else "default", width=width, align="end")
        button.on_click(self._g(action))
        return button

    def _general(self) -> list:
        W = pn.widgets
        self.name = W.TextInput(label="name", width=220)
        self.description = W.TextInput(label="description", sizing_mode="stretch_width")
        self.seed = W.IntInput(label="seed", width=100)
        self.concurrency = W.IntInput(label="concurrency", start=1, width=110)
        for key, w in (("name", self.name), ("description", self.description), ("seed", self.seed),
                       ("concurrency", self.concurrency)):
            w.param.watch(self._g(lambda e, key=key: self._field(key, e.new)), "value")
        return [_row(self.name, self.seed, self.concurrency), self.description]

    def _fleet(self) -> list:
        W, g = pn.widgets, self._g
        self.fleet_table = W.Tabulator(_fleet_frame({}), disabled=True, show_index=False, sizing_mode="stretch_width",
                                       selectable=False, css_classes=["wb-fleet"])
        self.member = W.Select(label="fleet model", width=150)
        self.member.param.watch(lambda e: self._sync_member(), "value")
        self.model = W.AutocompleteInput(label="model (litellm catalog)", restrict=False, case_sensitive=False,
                                         search_strategy="includes", min_characters=2, width=300,
                                         css_classes=["wb-model-picker"])
        self.model.param.watch(g(self._set_model), "value")
        self.provider = W.Select(label="provider", options=edits.provider_names(), width=120)
        self.provider.param.watch(g(self._set_provider), "value")
        self.model_info = pn.pane.HTML("", margin=(0, 10), css_classes=["wb-model-info"])
        self.new_name = W.TextInput(label="new model's name", placeholder="e.g. backup", width=130)
        self.new_model = W.AutocompleteInput(label="its model", restrict=False, case_sensitive=False,
                                             search_strategy="includes", min_characters=2, width=220)
        add = self._button("Add model", lambda e: self.draft.edit(edits.add_model, self.new_name.value,
                                                                  self.new_model.value), 100)
        remove = self._button("Remove selected model", lambda e: self.draft.edit(edits.remove_model, self.member.value),
                              170, primary=False)
        self.search = W.TextInput(label="search litellm's catalog", placeholder="e.g. claude, mini, llama", width=300)
        self.search.param.watch(g(lambda e: self._fill_catalog()), "value")
        self.catalog = W.Tabulator(pd.DataFrame(columns=models.CATALOG_COLUMNS), disabled=True, show_index=False,
                                   page_size=8, pagination="remote", sizing_mode="stretch_width", selectable=False)
        self.catalog.on_click(g(self._pick_from_catalog))
        self.catalog_note = pn.pane.Markdown("litellm's catalog is loading...")
        return [self.fleet_table, _row(self.member, self.model, self.provider), self.model_info,
                _row(self.new_name, self.new_model, add, remove), self.search, self.catalog_note, self.catalog]

    def _fallbacks(self) -> list:
        W = pn.widgets
        self.fallback_list = pn.pane.HTML("", css_classes=["wb-fallbacks"])
        self.fb_to = W.Select(label="fall back to", width=150)
        self.fb_errors = W.MultiChoice(label="on errors (none: any but not_found, bad_request, auth)",
                                       options=edits.ERROR_KINDS, width=330)
        add = self._button("Add fallback", lambda e: self.draft.edit(
            edits.add_fallback, self.member.value, self.fb_to.value, list(self.fb_errors.value)), 120)
        remove = self._button("Remove last fallback", self._remove_last_fallback, 170, primary=False)
        return [self.fallback_list, _row(self.fb_to, self.fb_errors), _row(add, remove)]

    def _humans(self) -> list:
        W = pn.widgets
        self.humans_table = W.Tabulator(_humans_frame({}), disabled=True, show_index=False, sizing_mode="stretch_width",
                                        selectable=False)
        self.h_name = W.TextInput(label="human node", value="tier2", width=120)
        self.h_agents = W.IntInput(label="agents", value=2, start=1, width=80)
        self.h_time = W.FloatInput(label="handling time (s)", value=420, start=0.001, width=130)
        self.h_cost = W.FloatInput(label="cost per request (USD)", value=3.5, start=0, width=160)
        self.h_acc = W.FloatInput(label="accuracy", value=0.97, start=0, end=1, width=90)
        put = self._button("Add / update", lambda e: self.draft.edit(
            edits.set_human, self.h_name.value, self.h_agents.value, self.h_time.value, self.h_cost.value,
            self.h_acc.value), 120)
        remove = self._button("Remove", lambda e: self.draft.edit(edits.remove_human, self.h_name.value), 90,
                              primary=False)
        return [self.humans_table, _row(self.h_name, self.h_agents, self.h_time, self.h_cost, self.h_acc),
                _row(put, remove)]

    def _router(self) -> list:
        W = pn.widgets
        self.policy = W.Select(label="policy", options=policy_names(), width=160)
        self.policy.param.watch(lambda e: setattr(self.policy_help, "object", _policy_help(e.new)), "value")
        self.params = W.TextAreaInput(label="params (YAML or JSON)", height=110, sizing_mode="stretch_width")
        self.policy_help = pn.pane.Markdown("")
        apply = self._button("Apply policy", lambda e: self.draft.edit(
            edits.set_policy, self.policy.value, edits.parse_params(self.params.value or "")), 120)
        return [_row(self.policy, apply), self.policy_help, self.params]

    def _budget(self) -> list:
        W = pn.widgets
        self.b_on = W.Checkbox(label="cap spending", width=120, align="end")
        self.b_max = W.FloatInput(label="max USD", value=_BUDGET_DEFAULT, start=0.0001, width=110)
        self.b_then = W.Select(label="when spent", options=["reject", "downgrade"], width=120)
        self.b_to = W.Select(label="downgrade to", width=130)
        apply = self._button("Apply budget", lambda e: self.draft.edit(
            edits.set_budget, self.b_max.value if self.b_on.value else None, self.b_then.value, self.b_to.value), 120)
        return [_row(self.b_on, self.b_max, self.b_then, self.b_to, apply)]

    # --- edits -------------------------------------------------------------------------------
    def _field(self, key: str, value) -> None:
        if not self._syncing:
            self.draft.edit(edits.set_field, key, value)

    def _set_model(self, event) -> None:
        if not self._syncing and event.new and self.member.value:
            self.draft.edit(edits.set_model, self.member.value, event.new)

    def _set_provider(self, event) -> None:
        if not self._syncing and self.member.value:
            self.draft.edit(edits.set_provider, self.member.value, event.new)

    def _remove_last_fallback(self, _event) -> None:
        chain = (self.draft.data.get("fallbacks") or {}).get(self.member.value) or []
        self.draft.edit(edits.remove_fallback, self.member.value, len(chain) - 1)

    def _pick_from_catalog(self, event) -> None:
        model = self.catalog.value.iloc[event.row]["model"]
        self.model.value = model  # applies to the selected fleet model through _set_model

    # --- redraw from the draft ---------------------------------------------------------------
    def catalog_loaded(self) -> None:
        """Fill the pickers and the catalog table (call once litellm's catalog is ready)."""
        # Shortest names first: typing an exact name and pressing Enter picks that name, not a longer one.
        names = sorted(models.catalog()["model"], key=lambda m: (len(m), m))
        self.model.options = names
        self.new_model.options = names
        self.catalog_note.object = f"{len(names):,} chat models with a price in litellm's map."
        self._fill_catalog()
        self.refresh()

    def _fill_catalog(self) -> None:
        if models.catalog_ready():
            self.catalog.value = models.search_catalog(self.search.value or "")

    def refresh(self) -> None:
        """Redraw every widget from the draft's data (no edit is made while redrawing)."""
        data: dict = (self.draft.data or {}) if self.draft.yaml_ok else {}
        self._syncing = True
        try:
            self.name.value = str(data.get("name", ""))
            self.description.value = str(data.get("description", ""))
            self.seed.value = data.get("seed", 0) if isinstance(data.get("seed", 0), int) else 0
            self.concurrency.value = data.get("concurrency", 64) if isinstance(data.get("concurrency", 64), int) else 64
            fleet: dict = _section(data, "fleet")
            humans: dict = _section(data, "humans")
            self.fleet_table.value = _fleet_frame(fleet)
            self.humans_table.value = _humans_frame(humans)
            self.member.options = list(fleet)
            if self.member.value not in fleet and fleet:
                self.member.value = next(iter(fleet))
            self.b_to.options = list(fleet)
            router: dict = _section(data, "router")
            if router.get("policy") in self.policy.options:
                self.policy.value = router["policy"]
            self.params.value = json.dumps(router.get("params", {})) if router.get("params") else ""
            self.policy_help.object = _policy_help(self.policy.value)
            budget = data.get("budget") if isinstance(data.get("budget"), dict) else None
            self._sync_budget(budget or {}, list(fleet))
            self._sync_member(data)
        finally:
            self._syncing = False

    def _sync_budget(self, budget: dict, fleet: list[str]) -> None:
        """The Budget card shows this draft's budget, or the defaults when it has none (never the values
        of the scenario shown before)."""
        self.b_on.value = bool(budget)
        max_usd = budget.get("max_usd", _BUDGET_DEFAULT)
        self.b_max.value = float(max_usd) if isinstance(max_usd, (int, float)) and max_usd > 0 else _BUDGET_DEFAULT
        then = budget.get("on_exceed", "reject")
        self.b_then.value = then if then in ("reject", "downgrade") else "reject"
        to = budget.get("downgrade_to")
        self.b_to.value = to if to in fleet else (fleet[0] if fleet else None)

    def _sync_member(self, data: dict | None = None) -> None:
        data = data if data is not None else ((self.draft.data or {}) if self.draft.yaml_ok else {})
        fleet: dict = _section(data, "fleet")
        humans: dict = _section(data, "humans")
        member = self.member.value
        spec: dict = _section(fleet, member) if member else {}
        was, self._syncing = self._syncing, True
        try:
            self.model.value = str(spec.get("model", ""))
            if spec.get("provider", "simulated") in self.provider.options:
                self.provider.value = spec.get("provider", "simulated")
            self.model_info.object = text(models.describe_model(str(spec.get("model", "")), spec.get("price"),
                                                                spec.get("context_window"))) if spec else ""
            self.fb_to.options = [t for t in [*fleet, *humans] if t != member]
            chain = _section(data, "fallbacks").get(member) or []
            items = join(html("<li>on {} &rarr; <b>{}</b></li>", errors_label(r), r.get("to"))
                         for r in chain if isinstance(r, dict))
            self.fallback_list.object = (html("<ol>{}</ol>", items) if items else
                                         html("<p>{} has no fallback: after its retries a failure fails the "
                                              "request.</p>", member or "this model"))
        finally:
            self._syncing = was
