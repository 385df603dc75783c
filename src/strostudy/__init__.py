"""strostudy: from raw PNC, PND and ROCU extracts to harm-weighted before/after results."""

import os as _os

# The numerical work is many small matrices (a subject's 48 months, a 4-term design), where
# BLAS threads only add overhead, and with several workflow jobs or calibration workers on the
# same cores they spin against each other (a 30-fold slowdown measured on 2 cores; A132,
# docs/scale.md).  One BLAS thread per process, unless the user has set the variable already.
# It takes effect where numpy is first imported after strostudy (every rule, the CLI, the
# calibration workers); a notebook that imported numpy earlier keeps its own setting.
for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_name, "1")

__version__ = "0.1.0"
