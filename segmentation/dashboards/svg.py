"""A panel drawn as SVG with matplotlib (object API, SVG canvas: no pyplot, no global backend)."""

from __future__ import annotations

import io
import threading

from segmentation.dashboards.model import Panel, PanelKind

# rcParams are process-global: render one figure at a time.
_LOCK = threading.Lock()
STYLE = {
    "svg.fonttype": "none",  # text stays <text>: small files, labels searchable
    "svg.hashsalt": "contactplan",  # stable element ids: same panel, same SVG
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
MAX_TICKS = 24  # category labels shown on a line chart's x axis


def render_panel_svg(panel: Panel, *, width: float = 8.0, height: float = 4.5) -> str:
    """The panel as an SVG document (inches at 100 dpi); CPU-bound: call it in a thread."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    with _LOCK, matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
        FigureCanvasSVG(figure)
        axes = figure.add_subplot()
        if len(panel.series) > 10:  # the default cycle repeats after 10 colours
            axes.set_prop_cycle(color=matplotlib.colormaps["tab20"].colors)
        axes.set_title(_text(panel.title))
        series = [s for s in panel.series if s.points]
        if not series:
            axes.set_axis_off()
            axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
        elif panel.kind is PanelKind.PIE:
            _pie(axes, panel)
        elif panel.kind is PanelKind.LINE:
            _line(axes, panel)
        else:
            _bars(axes, panel)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _pie(axes, panel: Panel) -> None:
    points = [p for p in panel.series[0].points if p.value > 0]
    if not points:
        axes.set_axis_off()
        return
    total = sum(p.value for p in points)
    wedges, _texts, _numbers = axes.pie(
        [p.value for p in points],
        autopct=lambda pct: f"{pct:.1f}%" if pct >= 4 else "",  # thin slices: legend only
        startangle=90,
        counterclock=False,
    )
    labels = [f"{_text(p.label)} ({100 * p.value / total:.1f}%)" for p in points]
    axes.legend(wedges, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    axes.set_aspect("equal")


def _line(axes, panel: Panel) -> None:
    labels = [_text(p.label) for p in panel.series[0].points]
    for s in panel.series:
        values = [p.value for p in s.points]
        axes.plot(range(len(values)), values, marker=".", label=_text(s.name))
    step = max(1, -(-len(labels) // MAX_TICKS))  # ceiling division
    axes.set_xticks(range(0, len(labels), step), labels[::step], rotation=45, ha="right")
    _finish(axes, panel)


def _bars(axes, panel: Panel) -> None:
    labels = [_text(p.label) for p in panel.series[0].points]
    count = len(panel.series)
    histogram = panel.kind is PanelKind.HISTOGRAM
    width = (1.0 if histogram else 0.8) / count
    for i, s in enumerate(panel.series):
        offsets = [x - 0.5 * (count - 1) * width + i * width for x in range(len(s.points))]
        axes.bar(
            offsets,
            [p.value for p in s.points],
            width=width,
            label=_text(s.name),
            edgecolor="white" if histogram else None,
        )
    rotate = len(labels) > 6 or max((len(label) for label in labels), default=0) > 10
    axes.set_xticks(
        range(len(labels)), labels, rotation=45 if rotate else 0, ha="right" if rotate else "center"
    )
    _finish(axes, panel)


def _finish(axes, panel: Panel) -> None:
    axes.set_ylabel(_text(panel.unit))
    axes.grid(axis="y", alpha=0.3)
    if len(panel.series) > 1:  # beside the plot: many series would cover it
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def _text(value: str) -> str:
    """Plain text for matplotlib: a `$` would start mathtext."""
    return value.replace("$", r"\$")
