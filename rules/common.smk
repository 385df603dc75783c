# Paths and helpers shared by the rules.

RAW_TABLES = {
    "orders": "data/raw/orders.csv",
    "pnc_arrests": "data/raw/pnc_arrests.csv",
    "pnd_records": "data/raw/pnd_records.csv",
}
RAW_ROCU = "data/raw/rocu"
TRUTH_TABLES = ["subject_windows", "cohort_flow", "discrepancies", "episodes", "events"]


def raw_inputs(wildcards=None):
    """Every raw extract the workflow reads (written by `simulate` when source is synthetic)."""
    return {**RAW_TABLES, "rocu": RAW_ROCU}


def raw_provenance(wildcards=None):
    """The raw extracts again, under names the report lists as provenance."""
    return {f"raw_{name}": path for name, path in raw_inputs().items()}
