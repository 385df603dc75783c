# %% [markdown]
# # 02 Cohort and before/after tests
# The cohort flow, per-subject windows, and the paired tests. The test function is the one the
# pipeline uses; it reproduces R's `wilcox.test(after, before, paired = TRUE, conf.int = TRUE)`.

# %%
import pandas as pd
from _paths import PROCESSED

from strostudy.prepost import exact_conditional_p, rank_biserial, wilcoxon_signed_rank

pd.read_csv(PROCESSED / "cohort_flow.csv")

# %%
windows = pd.read_csv(PROCESSED / "subject_windows.csv")
windows.groupby("category")[["events_before", "events_after", "harm_before", "harm_after"]].sum()

# %% [markdown]
# One category by hand, with the same functions:

# %%
drugs = windows.loc[windows["category"] == "drugs"]
result = wilcoxon_signed_rank(drugs["events_after"], drugs["events_before"])
result, exact_conditional_p((drugs["events_after"] - drugs["events_before"]).to_numpy()), rank_biserial(
    drugs["events_after"], drugs["events_before"])

# %%
tests = pd.read_csv(PROCESSED / "prepost_tests.csv")
row = tests.loc[(tests["measure"] == "events") & (tests["category"] == "drugs")].iloc[0]
assert abs(row["p_value"] - result.p_value) < 1e-12
tests[["measure", "category", "total_before", "total_after", "reduction_pct", "reduction_ci_low",
       "reduction_ci_high", "p_value", "p_holm", "hl_estimate", "hl_ci_low", "hl_ci_high"]].round(4)

# %%
pd.read_csv(PROCESSED / "correlations.csv")
