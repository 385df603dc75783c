"""Writing the extracts: CSVs, and ROCU workbooks laid out as each region lays them out,
byte-identical for the same extracts (fixed workbook and zip member timestamps)."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .design import ROCU_HEADERS
from .extracts import Extracts

FIXED_TIME = datetime(2026, 6, 25, 0, 0, 0)


def write_extracts(extracts: Extracts, raw_dir: str | Path, truth_dir: str | Path | None = None) -> list[Path]:
    """Write the extracts (CSV and XLSX) byte-identically for the same input: the order list,
    PNC, PND, then the comparison list and the custody extract (header only when empty), the
    ROCU workbooks, and last the synthetic manifest over all of them."""
    raw = Path(raw_dir)
    (raw / "rocu").mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (("orders.csv", extracts.orders), ("pnc_arrests.csv", extracts.pnc_arrests),
                        ("pnd_records.csv", extracts.pnd_records), ("comparison.csv", extracts.comparison),
                        ("custody.csv", extracts.custody)):
        path = raw / name
        frame.to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    for region, sheets in extracts.rocu.items():
        path = raw / "rocu" / f"{region}.xlsx"
        _write_rocu_workbook(path, sheets, extracts.rocu_styles[region], region)
        written.append(path)
    written.append(write_manifest(raw, written, extracts.order_types))
    if truth_dir is not None:
        truth = Path(truth_dir)
        truth.mkdir(parents=True, exist_ok=True)
        for name, frame in extracts.truth.items():
            path = truth / f"{name}.csv"
            frame.to_csv(path, index=False, lineterminator="\n", float_format="%.6f")
            written.append(path)
    return written


MANIFEST = "SYNTHETIC-MANIFEST.json"


def write_manifest(raw: Path, files: list[Path], order_types: list[str] | None = None) -> Path:
    """Mark the extracts as simulated (docs/data-contract.md, "The synthetic mark"): the
    SHA-256 of every extract file, and an HMAC-SHA256 of that list under the public synthetic
    key.  The pipeline uses the public key only for extracts that carry a valid mark.  With
    order types other than STRO alone, the manifest also lists them (``order_types``: each
    ``calibrated`` or ``illustrative``) with a ``note`` that only STRO is calibrated; the mark
    covers the files only, as before."""
    import hashlib
    import hmac
    import json

    from ._independent import SYNTHETIC_KEY

    digests = {p.relative_to(raw).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    canonical = json.dumps(digests, sort_keys=True, separators=(",", ":"))
    mark = hmac.new(SYNTHETIC_KEY.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    path = raw / MANIFEST
    manifest = {"generator": "strostudy.simulate", "files": digests, "mark": mark}
    if order_types is not None and list(order_types) != ["STRO"]:
        from .multi import CALIBRATION_NOTE

        manifest["order_types"] = {t: "calibrated" if t == "STRO" else "illustrative" for t in order_types}
        manifest["note"] = CALIBRATION_NOTE
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return path


def _write_rocu_workbook(path: Path, sheets: dict[str, pd.DataFrame], style: tuple, region: str) -> None:
    from openpyxl import Workbook

    variant, date_style, title_block = style
    wb = Workbook()
    wb.remove(wb.active)
    for sheet_name, frame in sheets.items():
        ws = wb.create_sheet(sheet_name)
        if title_block:
            ws.append([f"STRO study data request - {region.replace('_', ' ').title()} return"])
            ws.append([])
        ws.append([ROCU_HEADERS[c][variant] for c in frame.columns])
        date_cols = {c for c in frame.columns if c in ("start_date", "date_of_birth", "arrest_date")}
        for row in frame.itertuples(index=False):
            values = []
            for col, v in zip(frame.columns, row):
                if col in date_cols and isinstance(v, (pd.Timestamp, datetime)):
                    v = _excel_date(pd.Timestamp(v), date_style)
                values.append(None if (isinstance(v, float) and np.isnan(v)) or v == "" else v)
            ws.append(values)
        if date_style == "datetime":
            for col_idx, col in enumerate(frame.columns, start=1):
                if col in date_cols:
                    for cell in ws.iter_cols(min_col=col_idx, max_col=col_idx, min_row=1):
                        for c in cell:
                            if isinstance(c.value, datetime):
                                c.number_format = "DD/MM/YYYY"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.properties.creator = "strostudy simulate"
    buffer = io.BytesIO()
    wb.save(buffer)
    _zip_fixed_times(buffer.getvalue(), path)


def _excel_date(d: pd.Timestamp, style: str):
    if style == "serial":
        return int((d.normalize() - pd.Timestamp("1899-12-30")).days)
    if style == "uk_text":
        return d.strftime("%d/%m/%Y")
    if style == "iso_text":
        return d.strftime("%Y-%m-%d")
    return d.to_pydatetime()


def _zip_fixed_times(data: bytes, path: Path) -> None:
    """Rewrite an xlsx with fixed member timestamps so the bytes depend only on content."""
    src = zipfile.ZipFile(io.BytesIO(data))
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" at save time
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, content)
            out.writestr(fixed, content)
