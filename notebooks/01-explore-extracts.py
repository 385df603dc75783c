# %% [markdown]
# # 01 Explore the extracts
# What the reconciliation met: the audit ledger (every row read, and what became of it), the
# disagreements between PNC, PND and ROCU, and the offence codes with no harm weight.
# Everything here is read from `data/processed/` (pseudonymous); the functions are the package's.

# %%
from _paths import CONFIG, table

from strostudy import figures, style

ledger = table("audit_ledger").fillna({"reason": ""})
ledger.pivot_table(index="source", columns="outcome", values="rows", aggfunc="sum", fill_value=0)

# %% [markdown]
# Each source balances: rows read = kept + merged + quarantined.

# %%
assert ledger["balances"].all()
ledger.loc[ledger["outcome"] == "quarantined", ["source", "reason", "rows"]]

# %%
discrepancies = table("discrepancies")
discrepancies.groupby(["kind", "source_pair"]).size().sort_values(ascending=False).to_frame("n")

# %%
style.apply(CONFIG["figures"])
# The figure draws from the released (disclosure-checked) summary, as the report does.
figures.source_agreement(table("released_discrepancy_summary"), CONFIG)

# %%
table("unknown_codes")
