# %% [markdown]
# # 02 Cohort and before/after tests
# The cohort flow, per-subject windows, and the paired tests. The test function is the one the
# pipeline uses; it reproduces R's `wilcox.test(after, before, paired = TRUE, conf.int = TRUE)`.

# %%
from _paths import CONFIG, table

from strostudy import categories
from strostudy.prepost import exact_conditional_p, rank_biserial, wilcoxon_signed_rank

table("cohort_flow")

# %%
windows = table("subject_windows")
windows.groupby("category")[["events_before", "events_after", "harm_before", "harm_after"]].sum()

# %% [markdown]
# One category by hand (the config's first), with the same functions:

# %%
category = categories.names(CONFIG["categories"], overall=False)[0]
one = windows.loc[windows["category"] == category]
result = wilcoxon_signed_rank(one["events_after"], one["events_before"])
result, exact_conditional_p((one["events_after"] - one["events_before"]).to_numpy()), rank_biserial(
    one["events_after"], one["events_before"])

# %%
tests = table("prepost_tests")
row = tests.loc[(tests["measure"] == "events") & (tests["category"] == category)].iloc[0]
assert abs(row["p_value"] - result.p_value) <= 1e-9 * result.p_value  # the CSV keeps 10 significant digits
tests[["measure", "category", "total_before", "total_after", "reduction_pct", "reduction_ci_low",
       "reduction_ci_high", "p_value", "p_holm", "hl_estimate", "hl_ci_low", "hl_ci_high"]].round(4)

# %%
table("correlations")
