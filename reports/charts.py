"""Charts of one scenario (and of history) as inline SVG, drawn with matplotlib from the evidence document.

The x axis is AWS-equivalent seconds since the fault was injected, the unit SLOs are written in;
the top axis gives wall seconds on the stack. SVG text stays text (``svg.fonttype: none``) so the
report is searchable and small, and output is deterministic (fixed hash salt, no date).
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Iterator, ParamSpec, TypeVar

import matplotlib

matplotlib.use("Agg")  # no display, ever; must precede any figure
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.typing import RcKeyType

from base.timescale import TimeScale

OK, FAILED, LOST, MUTED = "#2e7d32", "#c62828", "#111111", "#9e9e9e"
MILESTONE_COLOURS = {"fault injected": "#6a1b9a", "detection": "#ef6c00", "failover": "#1565c0",
                     "recovery": "#2e7d32", "rolled back": "#455a64"}
ANSWER_PALETTE = ("#1565c0", "#00897b", "#f9a825", "#8e24aa", "#6d4c41", "#3949ab", "#c0ca33", "#d81b60")
STYLE: dict[RcKeyType, Any] = {"svg.fonttype": "none", "svg.hashsalt": "gameday", "font.family": "sans-serif", "font.size": 9,
                                "axes.spines.top": False, "axes.spines.right": False, "axes.titleweight": "bold", "axes.titlesize": 10}


P = ParamSpec("P")
R = TypeVar("R")
K = TypeVar("K")


def _styled(draw: Callable[P, R]) -> Callable[P, R]:
    """Draw inside the house style: rcParams apply when artists are created, not only when saved."""
    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)
    return wrapper


DRAWN_KEPT = 64  # charts remembered (about 20-80 KB of SVG each)
_drawn: OrderedDict[str, str] = OrderedDict()
_drawn_lock = threading.Lock()


def _remembered(draw: Callable[P, str]) -> Callable[P, str]:
    """The same chart of the same data is drawn once per process and then copied.

    Under pytest-xdist the controller, idle while its workers run, draws each scenario's charts as the
    scenario arrives (``reports.html.warm``); the report at session end then finds them here instead of
    drawing them all after the last experiment. A chart is a function of its arguments (fixed hash salt,
    no date), so the copy is the same bytes; arguments that are not JSON are drawn every time. The key keeps
    dicts' order: a chart that followed a dict's order would differ between two orders of the same data.
    """
    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> str:
        try:
            key = hashlib.sha256(json.dumps([draw.__name__, args, kwargs]).encode()).hexdigest()
        except (TypeError, ValueError):
            return draw(*args, **kwargs)
        with _drawn_lock:
            if key in _drawn:
                _drawn.move_to_end(key)
                return _drawn[key]
        svg = draw(*args, **kwargs)
        with _drawn_lock:
            _drawn[key] = svg
            while len(_drawn) > DRAWN_KEPT:
                _drawn.popitem(last=False)
        return svg
    return wrapper


class _Axis:
    """Seconds since injection: AWS-equivalent on the x axis, wall seconds on top."""

    def __init__(self, scenario: dict[str, Any]) -> None:
        self.scale = TimeScale(scenario["timeline"]["time_scale"])
        injected = scenario["fault"]["injected"]
        self.origin_s = injected["t_s"] if injected else 0.0

    def x(self, t_s: float) -> float:
        return self.scale.to_aws(t_s - self.origin_s)

    def decorate(self, ax: Axes) -> None:
        ax.set_xlabel("AWS-equivalent seconds since fault injected")
        if self.scale != TimeScale.REAL:
            # matplotlib calls these with arrays; TimeScale's conversions are one multiplication or
            # division, which arrays take too, but are typed for the float seconds the rest of the code has.
            top = ax.secondary_xaxis("top", functions=(self.scale.to_wall, self.scale.to_aws))  # type: ignore[arg-type]
            top.set_xlabel("wall seconds on the stack", color=MUTED)
            top.tick_params(colors=MUTED)
        ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE: the SVG is inline HTML


def _figure(width_in: float, height_in: float) -> Figure:
    with matplotlib.rc_context(STYLE):
        return Figure(figsize=(width_in, height_in), layout="constrained")


def _milestones(ax: Axes, scenario: dict[str, Any], axis: _Axis) -> None:
    """Vertical lines; the legend names them and the milestone table under each chart gives exact times."""
    for milestone in scenario["milestones"]:
        ax.axvline(axis.x(milestone["t_s"]), color=MILESTONE_COLOURS.get(milestone["name"], MUTED), linewidth=1.4,
                   linestyle="--" if milestone["name"] == "recovery" else "-")


def _runs(series: list[dict[str, Any]], key: Callable[[dict[str, Any]], K],
          end_s: float) -> Iterator[tuple[float, float, K]]:
    """(start, end, key) stretches of consecutive samples with the same key; a sample lasts until the next."""
    if not series:
        return
    start, current = series[0]["t_s"], key(series[0])
    for sample in series[1:]:
        value = key(sample)
        if value != current:
            yield start, sample["t_s"], current
            start, current = sample["t_s"], value
    last_s = series[-1]["t_s"]
    yield start, min(end_s, last_s + 0.5) if end_s > last_s else last_s + 0.5, current


def _bars(ax: Axes, row: int, spans: list[tuple[float, float, K]], axis: "_Axis",
          style: Callable[[K], dict[str, Any]]) -> None:
    """One broken_barh per style: thousands of samples become a handful of artists. ``style(key)`` gives kwargs."""
    groups: dict[K, list[tuple[float, float]]] = {}
    for start, stop, key in spans:
        groups.setdefault(key, []).append((axis.x(start), axis.x(stop) - axis.x(start)))
    for key, ranges in groups.items():
        ax.broken_barh(ranges, (row - 0.32, 0.64), linewidth=0, **style(key))


def _lanes(scenario: dict[str, Any], kind: str) -> dict[str, list[dict[str, Any]]]:
    lanes: dict[str, list[dict[str, Any]]] = {}
    for sample in scenario["samples"][kind]:
        lanes.setdefault(sample["source"], []).append(sample)
    return lanes


def _end_s(scenario: dict[str, Any]) -> float:
    times = [e["t_s"] for e in scenario["timeline"]["events"]]
    for kind in ("dns", "checkout", "canary"):
        times += [s["t_s"] for s in scenario["samples"][kind]]
    return max(times, default=0.0)


@_styled
def _timeline_figure(scenario: dict[str, Any]) -> Figure:
    """Swimlanes of checkout per vantage point and the order canary, with the milestones and the RTO SLO."""
    axis = _Axis(scenario)
    end_s = _end_s(scenario)
    lanes = [(f"checkout · {source}", series) for source, series in sorted(_lanes(scenario, "checkout").items())]
    if scenario["samples"]["canary"]:
        lanes.append(("order canary", scenario["samples"]["canary"]))
    figure = _figure(10, 1.2 + 0.42 * max(1, len(lanes)))
    ax = figure.add_subplot()
    for row, (_, series) in enumerate(lanes):
        _bars(ax, row, list(_runs(series, lambda s: s["ok"], end_s)), axis,
              lambda ok: {"facecolors": OK if ok else FAILED})
    lost = (scenario["data_integrity"] or {}).get("lost", [])
    if lost and scenario["samples"]["canary"]:
        ax.scatter([axis.x(o["acked_at"]["t_s"]) for o in lost], [len(lanes) - 1] * len(lost), marker="X", s=50,
                   color=LOST, zorder=3, label="acknowledged order lost")
    slo = (scenario["verdict"] or {}).get("slo")
    if slo is not None and slo["rto_s"] is not None:
        ax.axvline(slo["rto_s"], color=FAILED, linewidth=1, linestyle=":")
        ax.annotate(f"RTO SLO {slo['rto_s']:.0f} s", xy=(slo["rto_s"], 0), xycoords=("data", "axes fraction"),
                    xytext=(3, 3), textcoords="offset points", fontsize=8, color=FAILED)
    _milestones(ax, scenario, axis)
    ax.set_yticks(range(len(lanes)), [name for name, _ in lanes])
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.set_title("Timeline: probe results and milestones", loc="left")
    handles: list[Artist] = [Patch(color=OK, label="ok"), Patch(color=FAILED, label="failed")]
    handles += [Line2D([], [], color=c, label=n) for n, c in MILESTONE_COLOURS.items()
                if any(m["name"] == n for m in scenario["milestones"])]
    if lost:
        handles.append(Line2D([], [], marker="X", color=LOST, linestyle="", label="acknowledged order lost"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=len(handles), frameon=False)
    axis.decorate(ax)
    return figure


@_remembered
@_styled
def dns(scenario: dict[str, Any]) -> str:
    """Which addresses each vantage point was given over time, coloured by answer."""
    axis = _Axis(scenario)
    end_s = _end_s(scenario)
    lanes = sorted(_lanes(scenario, "dns").items())
    regions = {s["value"]["address"]: s["value"].get("region", "") for s in scenario["samples"]["checkout"]
               if s["value"] and s["value"].get("region")}
    answers: dict[str, str] = {}
    figure = _figure(10, 1.3 + 0.42 * max(1, len(lanes)))
    ax = figure.add_subplot()

    def answer(sample: dict[str, Any]) -> str:
        if not sample["ok"] or not sample["value"]:
            return ""
        return ", ".join(sample["value"]["addresses"])

    for row, (_, series) in enumerate(lanes):
        spans = list(_runs(series, answer, end_s))
        for _, _, text in spans:
            if text and text not in answers:
                answers[text] = ANSWER_PALETTE[len(answers) % len(ANSWER_PALETTE)]
        _bars(ax, row, spans, axis, lambda text: {"facecolors": answers[text]} if text else
              {"facecolors": "#ffffff", "edgecolor": FAILED, "hatch": "///"})
    _milestones(ax, scenario, axis)
    ax.set_yticks(range(len(lanes)), [name for name, _ in lanes])
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.set_title("DNS answers per vantage point", loc="left")

    def label(text: str) -> str:
        names = sorted({regions.get(a, "") for a in text.split(", ")} - {""})
        return f"{text} ({', '.join(names)})" if names else text

    handles = [Patch(color=c, label=label(t)) for t, c in answers.items()]
    handles.append(Patch(facecolor="#ffffff", edgecolor=FAILED, hatch="///", label="no answer"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=min(4, len(handles)), frameon=False)
    axis.decorate(ax)
    return _svg(figure)


@_remembered
@_styled
def latency(scenario: dict[str, Any], slo_p95_ms: float | None) -> str:
    """Checkout latency per vantage point over time; failed requests as crosses on the top edge."""
    axis = _Axis(scenario)
    figure = _figure(10, 3.2)
    ax = figure.add_subplot()
    top = 0.0
    for index, (source, series) in enumerate(sorted(_lanes(scenario, "checkout").items())):
        colour = ANSWER_PALETTE[index % len(ANSWER_PALETTE)]
        # a failed request breaks the line (NaN), so an outage is a gap, not a slope across it
        points = [(axis.x(s["t_s"]), s["value"]["latency_ms"] if s["ok"] and s["value"] else float("nan"))
                  for s in series]
        good = [v for _, v in points if v == v]
        if good:
            ax.plot(*zip(*points, strict=True), color=colour, linewidth=1, label=source)
            top = max(top, max(good))
    limit = max(top, slo_p95_ms or 0) * 1.15 or 1.0
    failed = [axis.x(s["t_s"]) for s in scenario["samples"]["checkout"] if not s["ok"]]
    if failed:
        ax.scatter(failed, [limit * 0.97] * len(failed), marker="x", s=14, color=FAILED, label="failed request")
    if slo_p95_ms:
        ax.axhline(slo_p95_ms, color=FAILED, linestyle=":", linewidth=1)
        ax.annotate(f"p95 SLO {slo_p95_ms:.0f} ms", xy=(0, slo_p95_ms), xycoords=("axes fraction", "data"),
                    xytext=(3, 3), textcoords="offset points", fontsize=8, color=FAILED)
    _milestones(ax, scenario, axis)
    ax.set_ylim(0, limit)
    ax.set_ylabel("latency (ms)")
    ax.set_title("Checkout latency per vantage point", loc="left")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=6, frameon=False)
    axis.decorate(ax)
    return _svg(figure)


@_remembered
@_styled
def cloudwatch(scenario: dict[str, Any], series: dict[str, list[list[float | None]]]) -> str:
    """Checkout p95 latency per Region as CloudWatch computed it (the probes' published metrics), with errors."""
    axis = _Axis(scenario)
    started = scenario["timeline"]["started"]["wall_time"]
    figure = _figure(10, 3.2)
    ax = figure.add_subplot()
    for index, (region, points) in enumerate(sorted(series.items())):
        colour = ANSWER_PALETTE[index % len(ANSWER_PALETTE)]
        xs = [axis.x(float(p[0] or 0) - started) for p in points]
        ax.plot(xs, [p[1] if p[1] is not None else float("nan") for p in points], color=colour, linewidth=1,
                label=f"{region} p95")
        errors = [(x, p[3]) for x, p in zip(xs, points, strict=True) if p[3]]
        if errors:
            ax.scatter([x for x, _ in errors], [0] * len(errors), marker="x", s=14, color=colour,
                       label=f"{region} errors")
    _milestones(ax, scenario, axis)
    ax.set_ylabel("p95 latency (ms)")
    ax.set_title("CloudWatch: checkout p95 per Region (SecureCart/Checkout, 1 s periods)", loc="left")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=6, frameon=False)
    axis.decorate(ax)
    return _svg(figure)


@_remembered
@_styled
def trend(runs: list[dict[str, Any]], scenario: str) -> str:
    """RTO and RPO of one scenario across runs (oldest first), against the SLO at each run."""
    points = [(r["run_id"], s) for r in runs for s in r["scenarios"] if s["scenario"] == scenario]
    figure = _figure(10, 2.6)
    rto_ax, rpo_ax = figure.subplots(1, 2)
    xs = list(range(len(points)))
    labels = [run_id[:15] for run_id, _ in points]
    for ax, key, slo_key, title in ((rto_ax, "rto_aws_s", "rto_slo_s", "RTO (AWS-eq. s)"),
                                    (rpo_ax, "rpo_aws_s", "rpo_slo_s", "RPO (AWS-eq. s)")):
        values = [s.get(key) for _, s in points]
        slos = [s.get(slo_key) for _, s in points]
        ax.plot([x for x, v in zip(xs, values, strict=True) if v is not None], [v for v in values if v is not None],
                marker="o", color=ANSWER_PALETTE[0], linewidth=1.2)
        failed = [x for x, (_, s) in zip(xs, points, strict=True) if not s.get("passed")]
        ax.scatter(failed, [values[x] or 0 for x in failed], color=FAILED, zorder=3, s=30, label="verdict failed")
        if any(v is not None for v in slos):
            ax.step(xs, [v if v is not None else float("nan") for v in slos], where="mid", color=FAILED,
                    linestyle=":", linewidth=1, label="SLO")
        ax.set_title(title, loc="left")
        ax.set_xticks(xs, labels, rotation=30, ha="right", fontsize=7)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", color="#e0e0e0", linewidth=0.6)
    rto_ax.legend(loc="upper left", frameon=False, fontsize=7)
    figure.suptitle(scenario, x=0.01, ha="left", fontweight="bold", fontsize=10)
    return _svg(figure)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


@_remembered
def timeline(scenario: dict[str, Any]) -> str:
    return _svg(_timeline_figure(scenario))


def timeline_png(scenario: dict[str, Any]) -> bytes:
    """The timeline chart as PNG, for Allure (which shows PNG attachments inline)."""
    return _png(_timeline_figure(scenario))
