# %% [markdown]
# # 04 Figures for publication
# Every figure is a function of the processed tables. To match a journal, change the figure
# settings (here a narrower single column and a serif font) and redraw; nothing is restyled by hand.

# %%
import tempfile
from pathlib import Path

import pandas as pd
from _paths import PROCESSED

from strostudy import figures, style
from strostudy.config import defaults, merge

cfg = defaults()
journal = merge(cfg["figures"], {"width_in": 3.5, "font_size": 7, "font_family": "DejaVu Serif"})
style.apply(journal)

# %%
monthly = pd.read_csv(PROCESSED / "monthly_series.csv")
models = pd.read_csv(PROCESSED / "its_models.csv")
fig = figures.monthly_its(monthly, models, cfg["its"]["primary"], journal)
fig

# %%
out = Path(tempfile.mkdtemp()) / "monthly_its_single_column"
written = style.save(fig, out, journal)
[(p.name, p.stat().st_size) for p in written]

# %%
fig = figures.prepost_totals(pd.read_csv(PROCESSED / "prepost_tests.csv"), journal)
fig
