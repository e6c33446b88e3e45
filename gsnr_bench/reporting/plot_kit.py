"""The drawing toolkit every figure of the report shares (plots.py): one colour per selector over every figure,
the rc the figures are drawn under, and their output (inline SVG with namespaced ids; PDF and PNG files) with
deterministic bytes: a fixed hash salt, no dates in the metadata, text kept as text."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

# 16 colours that stay apart (tab10, five hues picked greedily to be > 60 apart in RGB from the rest, black), and
# a fixed slot for each shipped selector, so a selector has the same colour in every plot of every page; other
# names take the free slots in name order.
PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#4000e0",
    "#e000a0",
    "#a0e0c0",
    "#000080",
    "#800000",
    "#000000",  # last: the 100% model's curve is black
]
KNOWN_SELECTORS = (
    "gsnr",
    "random",
    "ifd-superfiltering",
    "ifd-cherry",
    "longest",
    "grads",
    "gsnr-alt1",
    "gsnr-alt2",
    "gsnr-alt3",
    "oracle",
    "anti-oracle",
)
WTL_COLORS = {"wins": "#4caf50", "ties": "#b0b0b0", "losses": "#e57373"}
RC = {
    "svg.hashsalt": "gsnr-bench",
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def selector_colors(names) -> dict[str, str]:
    """name -> colour: shipped selectors in their fixed slots, the others in the free slots by name (the
    colours repeat only past 16 names). A label "sel@ratio" or "sel (scores-x)" takes its selector's colour."""
    names = sorted({selector_of(n) for n in names})
    out = {n: PALETTE[KNOWN_SELECTORS.index(n)] for n in names if n in KNOWN_SELECTORS}
    free = [c for c in PALETTE if c not in out.values()] or PALETTE
    for i, n in enumerate(n for n in names if n not in out):
        out[n] = free[i % len(free)]
    return out


def selector_of(label: str) -> str:
    """The selector in a plot label: "gsnr@0.1" -> "gsnr", "run:gsnr@0.1" -> "gsnr", "gsnr (x)" -> "gsnr"."""
    return str(label).split(":")[-1].split("@")[0].split(" (")[0].split(" [")[0]


def to_svg(fig, prefix: str) -> str:
    """Serialise a Figure to an <svg> element with ids namespaced by `prefix`."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'id="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', text)
    return text.replace("<svg ", f'<svg class="plot" data-plot="{prefix}" ', 1)


def save_figure(fig, out_dir: str | Path, name: str) -> list[Path]:
    """The same Figure as <name>.pdf (vector, for LaTeX) and <name>.png (200 dpi), written atomically, with no
    dates in their metadata (the same results give the same bytes)."""
    import matplotlib

    from gsnr_bench.core.fileio import write_bytes

    paths = []
    for ext, meta, extra in (
        ("pdf", {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None}, {}),
        ("png", {"Software": None}, {"dpi": 200}),
    ):
        buf = io.BytesIO()
        with matplotlib.rc_context(RC):
            fig.savefig(buf, format=ext, metadata=meta, bbox_inches="tight", **extra)
        path = Path(out_dir) / f"{name}.{ext}"
        write_bytes(path, buf.getvalue())
        paths.append(path)
    return paths


def new_figure(w: float, h: float):
    """A Figure of w x h inches drawn under the report's rc (no pyplot: no global state)."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(RC):  # rc is read when artists are created
        return Figure(figsize=(w, h), dpi=72)


def subplots(fig, n: int, ncols: int):
    """n axes on `fig`, ncols per row, as one flat list."""
    import matplotlib

    with matplotlib.rc_context(RC):
        axes = fig.subplots(math.ceil(n / ncols), ncols, squeeze=False)
    return [a for row in axes for a in row]
