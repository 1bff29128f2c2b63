"""The wiring diagram: boxes for router, models and humans; routes; numbered fallbacks; dangling rules."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from conftest import SCENARIOS

from workbench.app.diagram import routed_targets, wiring_svg
from workbench.app.edits import load_yaml_data

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def texts(root: ET.Element) -> list[str]:
    return [t.text for t in root.iter(f"{NS}text")]


def test_tiered_wiring():
    data = load_yaml_data((SCENARIOS / "support-tiered.yaml").read_text())
    root = parse(wiring_svg(data))
    groups = [g.get("class") for g in root.iter(f"{NS}g")]
    assert groups.count("wb-model") == 2 and groups.count("wb-human") == 1 and groups.count("wb-router") == 1
    words = texts(root)
    assert "policy: weighted" in words and "gpt-4o-mini [simulated]" in words and "human: 2 agents" in words
    legend = [w for w in words if re.match(r"\d\. if ", w)]
    assert legend == ["1. if large fails (server_error, timeout, rate_limit) -> small",
                      "2. if small fails (server_error, timeout, rate_limit) -> large",
                      "3. if small fails (any error) -> tier2"]
    arrows = [p for p in root.iter(f"{NS}path") if p.get("marker-end")]
    routes = [p for p in arrows if p.get("marker-end") == "url(#wb-rt)"]
    fallbacks = [p for p in arrows if p.get("marker-end") == "url(#wb-fb)"]
    assert len(routes) == 2 and len(fallbacks) == 3  # router -> small, large; three fallback rules
    assert all(p.get("stroke-dasharray") is None for p in routes)  # the policy names both targets


def test_dangling_fallback_unrouted_model_and_budget():
    data = {"fleet": {"a": {"model": "gpt-4o"}, "b": {"model": "gpt-4o-mini", "provider": "live"}},
            "router": {"policy": "static", "params": {"target": "a"}},
            "fallbacks": {"a": [{"to": "ghost", "errors": ["timeout"]}]},
            "budget": {"max_usd": 5, "on_exceed": "downgrade", "downgrade_to": "b"}}
    root = parse(wiring_svg(data))
    words = texts(root)
    assert "ghost?" in words and "1. if a fails (timeout) -> ghost (not in the fleet or humans!)" in words
    assert "budget $5, then downgrade to b" in words and "gpt-4o-mini [live]" in words
    routes = [p for p in root.iter(f"{NS}path") if p.get("marker-end") == "url(#wb-rt)"]
    assert len(routes) == 1  # only 'a' is routed; 'b' is a budget downgrade, not a route
    missing = [p for p in root.iter(f"{NS}path") if p.get("marker-end") == "url(#wb-miss)"]
    assert len(missing) == 1 and missing[0].get("stroke-dasharray") == "5 4"


def test_nothing_to_draw_and_routed_targets():
    assert "No fleet yet" in wiring_svg({}) and "No fleet yet" in wiring_svg(["not", "a", "mapping"])
    targets = {"small", "large", "tier2"}
    assert routed_targets({"weights": {"large": 1, "small": 3}}, targets) == ["large", "small"]
    rules = {"default": "small", "rules": [{"to": "tier2", "keywords": ["refund"]}, {"to": "large"}]}
    assert routed_targets(rules, targets) == ["small", "tier2", "large"]  # breadth first: default, then rules
    assert routed_targets({"rules": [{"to": "small", "keywords": ["large"]}]}, targets) == ["small", "large"]
    # hence the validated policy's own targets win when given
    fleet = {"small": {"model": "m"}, "large": {"model": "l"}}
    root = parse(wiring_svg({"fleet": fleet, "router": {"policy": "rules", "params": {
        "default": "small", "rules": [{"to": "small", "keywords": ["large"]}]}}}, routes=["small"]))
    assert len([p for p in root.iter(f"{NS}path") if p.get("marker-end") == "url(#wb-rt)"]) == 1
    assert routed_targets(None, targets) == []
    # a router that names no target yet may send anywhere: dashed routes to every model
    root = parse(wiring_svg({"fleet": {"m": {"model": "x"}, "n": {"model": "y"}}, "router": {"policy": "weighted"}}))
    routes = [p for p in root.iter(f"{NS}path") if p.get("marker-end") == "url(#wb-rt)"]
    assert len(routes) == 2 and all(p.get("stroke-dasharray") == "5 4" for p in routes)
