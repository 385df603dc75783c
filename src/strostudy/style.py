"""The one place figures get their look: palette, fonts and sizes from ``config["figures"]``.

The default palette is Okabe-Ito (colour-blind safe).  Saving strips timestamps so the same
data give byte-identical PNG and PDF files.
"""

from __future__ import annotations

from pathlib import Path


def measure_label(measure: str, config: dict) -> str:
    """``Arrests``, or the harm index's short name with its unit (``CCHI harm (days)``)."""
    harm = config["harm"]
    return "Arrests" if measure == "events" else f"{harm['short_name']} ({harm['unit']})"


NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def window_words(months: int) -> str:
    """A window length as an adjective: ``two-year`` for 24 months, ``18-month`` for 18."""
    months = int(months)
    if months % 12 == 0 and months // 12 < len(NUMBER_WORDS):
        return f"{NUMBER_WORDS[months // 12]}-year"
    return f"{months}-month"


def apply(fig_cfg: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    plt.rcdefaults()
    plt.rcParams.update({
        "font.family": fig_cfg["font_family"],
        "font.size": fig_cfg["font_size"],
        "axes.titlesize": fig_cfg["font_size"] + 1,
        "axes.labelsize": fig_cfg["font_size"],
        "legend.fontsize": fig_cfg["font_size"] - 1,
        "legend.frameon": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": cycler(color=palette(fig_cfg)),
        "figure.dpi": 100,
        "savefig.dpi": fig_cfg["dpi"],
        "savefig.bbox": "tight",
        "pdf.fonttype": 42,  # editable text in the PDF, as journals ask
        "svg.hashsalt": "strostudy",
        "path.simplify": False,
        # Labels come from config and data: a "$" in them is text, never mathtext to parse.
        "text.parse_math": False,
    })


#: What a panel with nothing to plot says.
NO_SUBJECTS = "No analysed subjects"


def empty_panel(ax, message: str = NO_SUBJECTS) -> None:
    """A panel with nothing to plot: the reason, centred, and no axes to misread."""
    ax.tick_params(left=False, labelleft=False, bottom=False, labelbottom=False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="0.35",
            bbox={"boxstyle": "round,pad=0.6", "fc": "0.96", "ec": "0.75", "lw": 0.8})


def palette(fig_cfg: dict) -> list[str]:
    return list(fig_cfg["palette"])


def size(fig_cfg: dict, height_ratio: float = 0.5) -> tuple[float, float]:
    width = float(fig_cfg["width_in"])
    return width, width * height_ratio


def save(fig, stem: str | Path, fig_cfg: dict) -> list[Path]:
    """PNG at the configured dpi and a vector PDF, both without timestamps."""
    import matplotlib.pyplot as plt

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    fig.savefig(png, dpi=fig_cfg["dpi"], metadata={"Software": None})
    fig.savefig(pdf, metadata={"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None})
    plt.close(fig)
    return [png, pdf]
