"""The one place figures get their look: palette, fonts and sizes from ``config["figures"]``.

The default palette is Okabe-Ito (colour-blind safe).  Saving strips timestamps so the same
data give byte-identical PNG and PDF files.
"""

from __future__ import annotations

from pathlib import Path

CATEGORY_LABELS = {"overall": "Overall", "modern_slavery": "Modern slavery", "violence": "Violence",
                   "drugs": "Drugs", "other": "Other"}
MEASURE_LABELS = {"events": "Arrests", "harm": "CCHI harm (days)"}


def apply(fig_cfg: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    plt.rcdefaults()
    plt.rcParams.update({
        "font.family": fig_cfg.get("font_family", "DejaVu Sans"),
        "font.size": fig_cfg.get("font_size", 8),
        "axes.titlesize": fig_cfg.get("font_size", 8) + 1,
        "axes.labelsize": fig_cfg.get("font_size", 8),
        "legend.fontsize": fig_cfg.get("font_size", 8) - 1,
        "legend.frameon": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": cycler(color=palette(fig_cfg)),
        "figure.dpi": 100,
        "savefig.dpi": fig_cfg.get("dpi", 300),
        "savefig.bbox": "tight",
        "pdf.fonttype": 42,  # editable text in the PDF, as journals ask
        "svg.hashsalt": "strostudy",
        "path.simplify": False,
    })


def palette(fig_cfg: dict) -> list[str]:
    return list(fig_cfg.get("palette") or ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"])


def size(fig_cfg: dict, height_ratio: float = 0.5) -> tuple[float, float]:
    width = float(fig_cfg.get("width_in", 6.5))
    return width, width * height_ratio


def save(fig, stem: str | Path, fig_cfg: dict) -> list[Path]:
    """PNG at the configured dpi and a vector PDF, both without timestamps."""
    import matplotlib.pyplot as plt

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    fig.savefig(png, dpi=fig_cfg.get("dpi", 300), metadata={"Software": None})
    fig.savefig(pdf, metadata={"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None})
    plt.close(fig)
    return [png, pdf]
