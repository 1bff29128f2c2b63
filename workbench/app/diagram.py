"""The wiring of a scenario as an SVG: router -> models (with their tool and data steps) -> fallbacks -> human nodes.

Why hand-written SVG: the app works offline and the picture is small (a router, a few models, a few
fallback arrows), so a layout library (Graphviz, a JS graph widget) would be a heavy dependency for
four columns of boxes. Why from the raw YAML data rather than the validated scenario: the diagram
must keep drawing while the design is being edited into shape; a fallback to a target that does not
exist yet is drawn as a red dangling arrow, which is exactly what the user needs to see.
"""

from __future__ import annotations

from typing import Any

from workbench.app.safe import esc

__all__ = ["wiring_svg", "routed_targets", "errors_label"]

_BOX_W, _BOX_H, _ROW = 210, 52, 78
_X_ROUTER, _X_MODEL, _X_HUMAN = 16, 230, 640
_ROUTER_W, _HUMAN_W = 160, 180
_FALLBACK, _ROUTE, _MISSING, _STEP = "#dd6b20", "#2b6cb0", "#c53030", "#2c7a7b"


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def routed_targets(params: Any, targets: set[str]) -> list[str]:
    """Targets the router's params name anywhere (keys or values), breadth first: a guess for a draft
    whose policy cannot be built yet (a keyword that happens to be a model's name counts too)."""
    found: list[str] = []
    stack = [params]
    while stack:
        item = stack.pop(0)
        if isinstance(item, dict):
            for k, v in item.items():
                if isinstance(k, str) and k in targets and k not in found:
                    found.append(k)
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and item in targets and item not in found:
            found.append(item)
    return found


def _box(x: float, y: float, w: float, title: str, sub: str, fill: str, cls: str) -> str:
    return (f"<g class='{cls}'><rect x='{x}' y='{y}' width='{w}' height='{_BOX_H}' rx='8' fill='{fill}' "
            f"stroke='#4a5568'/><text x='{x + 10}' y='{y + 21}' font-weight='600' font-size='14'>{esc(title)}</text>"
            f"<text x='{x + 10}' y='{y + 40}' font-size='12' fill='#4a5568'>{esc(sub[:34])}</text></g>")


def _arrow(d: str, colour: str, dashed: bool = False, label: str = "", lx: float = 0, ly: float = 0) -> str:
    dash = " stroke-dasharray='5 4'" if dashed else ""
    marker = {"#dd6b20": "wb-fb", "#2b6cb0": "wb-rt"}.get(colour, "wb-miss")
    out = f"<path d='{d}' fill='none' stroke='{colour}' stroke-width='1.6'{dash} marker-end='url(#{marker})'/>"
    if label:
        out += f"<text x='{lx}' y='{ly}' font-size='11' fill='{colour}'>{esc(label)}</text>"
    return out


def errors_label(rule: dict) -> str:
    """The error kinds a fallback rule names, as written (the draft may not be valid yet)."""
    errors = rule.get("errors")
    if not errors:
        return "any error"
    return ", ".join(str(e) for e in errors) if isinstance(errors, list) else str(errors)


def wiring_svg(data: Any, routes: list[str] | None = None) -> str:
    """An SVG picture of ``data`` (a scenario's YAML mapping); a short note when there is nothing to draw.

    ``routes``: the targets the policy can route to, from the validated policy itself
    (``Policy.referenced_targets``); without it, names found in the router's params are used.
    """
    data = _mapping(data)
    fleet, humans = _mapping(data.get("fleet")), _mapping(data.get("humans"))
    if not fleet:
        return "<p class='wb-diagram'>No fleet yet: add a model to see the wiring.</p>"
    router = _mapping(data.get("router"))
    models, people = list(fleet), list(humans)
    y_of = {m: 20 + i * _ROW for i, m in enumerate(models)}
    y_of.update({h: 20 + i * _ROW for i, h in enumerate(people)})
    rows = max(len(models), len(people), 1)
    parts: list[str] = []
    known = set(models) | set(people)
    routed = [t for t in routes if t in known] if routes is not None else routed_targets(router.get("params"), known)
    ry = 20 + (rows - 1) * _ROW / 2
    for t in routed or models:  # no target named (yet): the router may send anywhere
        tx = _X_MODEL if t in fleet else _X_HUMAN
        parts.append(_arrow(f"M{_X_ROUTER + _ROUTER_W},{ry + _BOX_H / 2} L{tx - 4},{y_of[t] + _BOX_H / 2}",
                            _ROUTE, dashed=not routed))
    legend = _fallback_arrows(_mapping(data.get("fallbacks")), fleet, humans, y_of, rows, parts)
    parts.append(_box(_X_ROUTER, ry, _ROUTER_W, "router", f"policy: {router.get('policy', '?')}", "#ebf8ff",
                      "wb-router"))
    for m in models:
        spec = _mapping(fleet[m])
        parts.append(_box(_X_MODEL, y_of[m], _BOX_W, m,
                          f"{spec.get('model', '?')} [{spec.get('provider', 'simulated')}]",
                          "#f0fff4", "wb-model"))
        parts.extend(_steps_line(m, spec, y_of[m]))
    for h in people:
        node = _mapping(humans[h])
        parts.append(_box(_X_HUMAN, y_of[h], _HUMAN_W, h, f"human: {node.get('agents', '?')} agents", "#fffaf0",
                          "wb-human"))
    height = 20 + rows * _ROW + 6
    for line in legend:
        parts.append(f"<text x='{_X_MODEL}' y='{height}' font-size='12' fill='{_FALLBACK}'>{esc(line)}</text>")
        height += 16
    for line in _steps_legend(fleet, _mapping(data.get("steps"))):
        parts.append(f"<text x='{_X_MODEL}' y='{height}' font-size='12' fill='{_STEP}' class='wb-steps'>"
                     f"{esc(line)}</text>")
        height += 16
    budget = _mapping(data.get("budget"))
    if budget:
        then = (f"downgrade to {budget.get('downgrade_to')}" if budget.get("on_exceed") == "downgrade" else "reject")
        parts.append(f"<text x='{_X_ROUTER}' y='{height}' font-size='12'>budget ${esc(budget.get('max_usd', '?'))}, "
                     f"then {esc(then)}</text>")
        height += 16
    defs = "".join(f"<marker id='{i}' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' "
                   f"orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='{c}'/></marker>"
                   for i, c in (("wb-fb", _FALLBACK), ("wb-rt", _ROUTE), ("wb-miss", _MISSING)))
    return (f"<svg class='wb-diagram' xmlns='http://www.w3.org/2000/svg' width='{_X_HUMAN + _HUMAN_W + 20}' "
            f"height='{height + 10}' font-family='system-ui, sans-serif'><defs>{defs}</defs>{''.join(parts)}</svg>")


def _tag(n: int, x: float, y: float, colour: str) -> str:
    return (f"<circle cx='{x}' cy='{y}' r='9' fill='white' stroke='{colour}'/>"
            f"<text x='{x}' y='{y + 4}' font-size='11' text-anchor='middle' fill='{colour}'>{n}</text>")


def _fallback_arrows(fallbacks: dict, fleet: dict, humans: dict, y_of: dict, rows: int, parts: list[str]) -> list[str]:
    """Append the fallback arrows, each with a numbered tag; returns the legend lines, in tag order."""
    bulge, x = 36, _X_MODEL + _BOX_W
    legend: list[str] = []
    for src, rules in fallbacks.items():
        if src not in fleet or not isinstance(rules, list):
            continue
        sy = y_of[src] + _BOX_H / 2
        for rule in (r for r in rules if isinstance(r, dict)):
            to, n = rule.get("to"), len(legend) + 1
            legend.append(f"{n}. if {src} fails ({errors_label(rule)}) -> {to}")
            if to in fleet:
                down = y_of[to] > y_of[src]
                y0, ty = sy + (8 if down else -8), y_of[to] + _BOX_H / 2 + (-8 if down else 8)
                parts.append(_arrow(f"M{x},{y0} C{x + bulge},{y0} {x + bulge},{ty} {x + 4},{ty}", _FALLBACK))
                parts.append(_tag(n, x + bulge * 0.75, (y0 + ty) / 2, _FALLBACK))
                bulge += 34
            elif to in humans:
                ty = y_of[to] + _BOX_H / 2
                parts.append(_arrow(f"M{x},{sy} L{_X_HUMAN - 4},{ty}", _FALLBACK))
                parts.append(_tag(n, (x + _X_HUMAN) / 2 + 40, sy + (ty - sy) * (0.5 + 40 / (_X_HUMAN - x)), _FALLBACK))
            else:
                legend[-1] += " (not in the fleet or humans!)"
                ty = 20 + rows * _ROW - 10
                parts.append(_arrow(f"M{x},{sy} L{_X_HUMAN - 4},{ty}", _MISSING, dashed=True, label=f"{to}?",
                                    lx=_X_HUMAN, ly=ty + 4))
    return legend


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _steps_line(model: str, spec: dict, y: float) -> list[str]:
    """A line under a model's box: its route's steps in order around the call (the draft may name unknown steps)."""
    steps = _mapping(spec.get("steps"))
    before, after = _names(steps.get("before")), _names(steps.get("after"))
    if not before and not after:
        return []
    text = " > ".join([*before, "call", *after])
    return [f"<text x='{_X_MODEL + 4}' y='{y + _BOX_H + 13}' font-size='11' fill='{_STEP}' class='wb-steps'>"
            f"steps: {esc(text[:40])}</text>"]


def _steps_legend(fleet: dict, steps: dict) -> list[str]:
    """One legend line per step a route runs: its kind and what its failure leads to (fallback step, then
    ``on_failure``), as the fallback legend does for models; an undeclared step is flagged."""
    legend: list[str] = []
    for m, spec in fleet.items():
        route = _mapping(_mapping(spec).get("steps"))
        for when in ("before", "after"):
            for name in _names(route.get(when)):
                step = steps.get(name)
                if not isinstance(step, dict):
                    legend.append(f"{m} {when}: step {name} (not declared under steps!)")
                    continue
                chain = f" -> {step['fallback']}" if step.get("fallback") else ""
                legend.append(f"{m} {when}: {name} [{step.get('kind', '?')}, simulated]; if it fails{chain} -> "
                              f"{step.get('on_failure', 'fail')}")
    return legend
