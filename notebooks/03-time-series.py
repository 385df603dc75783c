# %% [markdown]
# # 03 Time series
# Monthly arrests and harm on each subject's own clock, and the segmented models. Refitting one
# series here with the package's function gives the numbers in `its_models.csv`.

# %%
import pandas as pd
from _paths import CONFIG, table

from strostudy.its import describe_change, fit_segmented

monthly = table("monthly_series")
overall = monthly.loc[monthly["category"] == "overall"].pivot(index="month", columns="measure", values="value")
overall.T

# %%
rows, fit = fit_segmented(overall["events"].to_numpy(float), overall.index.to_numpy(), "quasipoisson",
                          hac_lags=CONFIG["its"]["hac_lags"])
pd.DataFrame(rows)

# %%
models = table("its_models")
{measure: describe_change(models, measure, model, CONFIG["study"]["alpha"], CONFIG["its"]["significance"])
 for measure, model in CONFIG["its"]["primary"].items()}

# %%
table("its_summary")

# %%
models.loc[models["placebo_month"].notna() & (models["category"] == "overall")
           & models["term"].isin(["post", "time_since"])]

# %% [markdown]
# Observed, fitted and counterfactual values per month, as the figures draw them.

# %%
table("its_fitted").query("category == 'overall'").head()
