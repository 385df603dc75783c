# %% [markdown]
# # 01 Explore the extracts
# What the reconciliation met: the audit ledger (every row read, and what became of it), the
# disagreements between PNC, PND and ROCU, and the offence codes with no harm weight.
# Everything here is read from `data/processed/` (pseudonymous); the functions are the package's.

# %%
import pandas as pd
from _paths import PROCESSED

from strostudy import figures, style
from strostudy.config import defaults

ledger = pd.read_csv(PROCESSED / "audit_ledger.csv", keep_default_na=False)
ledger.pivot_table(index="source", columns="outcome", values="rows", aggfunc="sum", fill_value=0)

# %% [markdown]
# Each source balances: rows read = kept + merged + quarantined.

# %%
assert ledger["balances"].all()
ledger.loc[ledger["outcome"] == "quarantined", ["source", "reason", "rows"]]

# %%
discrepancies = pd.read_csv(PROCESSED / "discrepancies.csv")
discrepancies.groupby(["kind", "source_pair"]).size().sort_values(ascending=False).to_frame("n")

# %%
style.apply(defaults()["figures"])
figures.source_agreement(discrepancies, defaults()["figures"])

# %%
pd.read_csv(PROCESSED / "unknown_codes.csv")
