# %% [markdown]
# # 04 Figures for publication
# Every figure is a function of the processed tables. To match a journal, change the figure
# settings (here a narrower single column and a serif font) and redraw; nothing is restyled by hand.

# %%
import tempfile
from pathlib import Path

from _paths import CONFIG, table

from strostudy import figures, style
from strostudy.config import merge

journal = merge(CONFIG, {"figures": {"width_in": 3.5, "font_size": 7, "font_family": "DejaVu Serif"}})
style.apply(journal["figures"])

# %%
fig = figures.monthly_its(table("its_fitted"), table("released_its_observed"), journal)
fig

# %%
out = Path(tempfile.mkdtemp()) / "monthly_its_single_column"
written = style.save(fig, out, journal["figures"])
[(p.name, p.stat().st_size) for p in written]

# %%
fig = figures.prepost_totals(table("released_tests"), journal)
fig
