"""strostudy: from raw PNC, PND and ROCU extracts to harm-weighted before/after results."""

__version__ = "0.1.0"
