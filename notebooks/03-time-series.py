# %% [markdown]
# # 03 Time series
# Monthly arrests and harm on each subject's own clock, and the segmented models. Refitting one
# series here with the package's function gives the numbers in `its_models.csv`.

# %%
import pandas as pd
from _paths import PROCESSED

from strostudy.config import defaults
from strostudy.its import describe_change, fit_segmented

monthly = pd.read_csv(PROCESSED / "monthly_series.csv")
overall = monthly.loc[monthly["category"] == "overall"].pivot(index="month", columns="measure", values="value")
overall.T

# %%
rows, fit = fit_segmented(overall["events"].to_numpy(float), overall.index.to_numpy(), "quasipoisson", hac_lags=3)
pd.DataFrame(rows)

# %%
models = pd.read_csv(PROCESSED / "its_models.csv")
cfg = defaults()["its"]
{measure: describe_change(models, measure, model, cfg["alpha"], cfg["significance"])
 for measure, model in cfg["primary"].items()}

# %%
pd.read_csv(PROCESSED / "its_summary.csv")

# %%
models.loc[models["model"].str.startswith("placebo") & (models["category"] == "overall")
           & models["term"].isin(["post", "time_since"])]
