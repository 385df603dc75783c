"""Everything the report renders from data or config is escaped: the HTML report autoescapes,
the Markdown report escapes what would break a table or inject markup, figures draw labels as
text, and the provenance hashes only the contract's extract files, never one outside them."""

from __future__ import annotations

import copy
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_stages

from strostudy.config import check, defaults
from strostudy.report import environment, input_files, md_escape, md_fence

SCRIPT = "<script>alert(2)</script>"
IMG = "<img src=x onerror=alert(1)>"
LINK = "[link](javascript:alert(3))"
EVIL = f"{SCRIPT} | broken | {LINK}"
ROCU_FILE = "<img src=x onerror=alert(5)>wales.xlsx"
TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "strostudy" / "templates"


def hostile_config() -> dict:
    cfg = copy.deepcopy(defaults())
    cfg["source"] = "extracts"  # edited extracts lose the synthetic mark: run them as real ones
    cfg["harm"]["index_name"] = f"CCHI {EVIL}"
    cfg["harm"]["short_name"] = "CCHI $\\x{$ ``` <b>"  # a "$" pair that is not valid mathtext
    cfg["harm"]["unit"] = "days ```` <i>"  # four backticks in the YAML block
    cfg["categories"]["violence"]["label"] = f"Violence {EVIL}\nsecond line"
    check(cfg)
    return cfg


@pytest.fixture(scope="module")
def hostile(default_dirs, tmp_path_factory):
    """The default extracts with markup planted in an offence code and a workbook's file name,
    and in config values, run to the report."""
    work = tmp_path_factory.mktemp("hostile")
    raw = work / "raw"
    shutil.copytree(default_dirs / "raw", raw)
    (raw / "SYNTHETIC-MANIFEST.json").unlink(missing_ok=True)
    pnc = raw / "pnc_arrests.csv"
    text = pnc.read_text()
    assert "RT88007" in text  # the default extracts' unknown offence code, quarantined by harm
    pnc.write_text(text.replace("RT88007", IMG))
    (raw / "rocu" / "wales.xlsx").rename(raw / "rocu" / ROCU_FILE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STROSTUDY_PSEUDONYM_KEY", "a-test-key-that-is-long-enough-0123456789")
        processed = run_stages(raw, work / "run", hostile_config(), until="report")
    reports = work / "run" / "reports" / "stro"
    return {"html": (reports / "results.html").read_text(), "md": (reports / "results.md").read_text(),
            "unknown": pd.read_csv(processed / "unknown_codes.csv")}


def test_the_planted_values_reach_the_report(hostile):
    assert hostile["unknown"]["cjs_code"].str.contains("IMG SRC=X", case=False).any()
    for text in (hostile["html"], hostile["md"]):
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in text
        assert "&lt;img src=x onerror=alert(1)&gt;" in text.lower()  # the offence code (upper-cased by ingest)
        assert "&lt;img src=x onerror=alert(5)&gt;wales.xlsx" in text  # the workbook, in the provenance


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]


def test_html_has_no_planted_markup(hostile):
    html = hostile["html"]
    low = html.lower()
    for raw in ("<img src=x", "<script", "<b>", "<i>", "href=\"javascript:", "href='javascript:"):
        assert raw not in low, raw
    parser = _Tags()
    parser.feed(html)
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "div", "strong", "a",
               "table", "tr", "th", "td", "figure", "img", "figcaption", "ul", "li", "pre", "code"}
    assert set(parser.tags) <= allowed, set(parser.tags) - allowed
    assert not [a for a in parser.attrs if a[1].startswith("on")]  # no event handler attribute
    assert all(v.startswith("data:image/png;base64,") for t, k, v in parser.attrs if k == "src")
    assert all(v.startswith("#") for t, k, v in parser.attrs if k == "href")


def _outside_fences(md: str) -> list[str]:
    """The lines of ``md`` outside fenced code blocks (whose content is code, shown as text)."""
    lines, fence = [], None
    for line in md.splitlines():
        run = re.match(r"^(`{3,})", line)
        if fence is None and run:
            fence = run.group(1)
        elif fence is not None and line.strip() == fence:
            fence = None
        elif fence is None:
            lines.append(line)
    assert fence is None, "a fenced block is never closed"
    return lines


UNESCAPED_PIPE = re.compile(r"(?<!\\)(?:\\\\)*\|")


def test_markdown_tables_keep_their_columns(hostile):
    lines = _outside_fences(hostile["md"])
    tables, current = [], []
    for line in lines + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert len(tables) >= 8
    for table in tables:
        widths = {len(UNESCAPED_PIPE.findall(row)) for row in table}
        assert len(widths) == 1, table[0]
    assert any("Violence" in row and "second line" in row for table in tables for row in table)


def test_markdown_has_no_planted_markup_or_link(hostile):
    body = "\n".join(_outside_fences(hostile["md"]))
    for raw in ("<img src=x", "<IMG SRC=X", "<script", "<b>", "<i>"):
        assert raw not in body, raw
    assert not re.search(r"(?<!\\)\]\(javascript:", body)  # a link only forms from an unescaped "]("
    assert "\\[link\\](javascript:alert(3))" in body
    assert "](../../figures/stro/prepost_totals.png)" in body  # the report's own links still work


def test_the_config_block_cannot_be_closed_by_a_value(hostile):
    md = hostile["md"]
    opening = re.search(r"^(`{3,})yaml$", md, flags=re.M)
    assert opening and len(opening.group(1)) > 4  # longer than the value's four backticks
    block = md[opening.end():]
    assert "unit: days ```` <i>" in block.split(opening.group(1))[0]
    assert md.rstrip().endswith(opening.group(1))


def test_html_autoescapes_and_nothing_is_marked_safe():
    assert environment(markdown=False).autoescape is True
    for template in TEMPLATES.rglob("*.j2"):
        text = template.read_text()
        assert "|safe" not in text.replace(" ", "") and "Markup" not in text and "autoescape false" not in text


def test_md_escape_rules():
    assert md_escape("a | b") == "a \\| b"
    assert md_escape("`x`") == "\\`x\\`"
    assert md_escape("<b>&") == "&lt;b&gt;&amp;"
    assert md_escape("[a](b)") == "\\[a\\](b)"
    assert md_escape("one\ntwo\r\nthree") == "one<br>two<br>three"
    assert md_escape("a\\|b") == "a\\\\\\|b"  # an escaped backslash, then an escaped pipe
    assert md_escape("same_episode") == "same_episode" and md_escape("_x_") == "\\_x\\_"
    assert md_fence("x: ```\n", "yaml") == "````yaml\nx: ```\n````"


@pytest.fixture
def raw_folder(tmp_path):
    """A raw folder reached through a symlink (as the tests' working directories are), holding
    the contract's files, a lock file, a stray file and a workbook that links outside it."""
    real = tmp_path / "real_raw"
    (real / "rocu").mkdir(parents=True)
    for name in ("orders.csv", "pnc_arrests.csv", "pnd_records.csv", "rocu/a.xlsx", "rocu/~$a.xlsx",
                 "rocu/notes.txt", "rocu/sub.xlsx.bak"):
        (real / name).write_text(name)
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the raw folder")
    (real / "rocu" / "evil.xlsx").symlink_to(secret)
    linked = tmp_path / "work" / "data" / "raw"
    linked.parent.mkdir(parents=True)
    linked.symlink_to(real, target_is_directory=True)
    return linked


def test_provenance_hashes_only_the_contract_files_inside_the_raw_folder(raw_folder):
    inputs = {"raw_orders": str(raw_folder / "orders.csv"), "raw_pnc_arrests": str(raw_folder / "pnc_arrests.csv"),
              "raw_pnd_records": str(raw_folder / "pnd_records.csv"), "raw_rocu": str(raw_folder / "rocu"),
              "cohort_flow": str(raw_folder.parent / "processed" / "cohort_flow.csv")}
    files, skipped = input_files(inputs)
    assert [f.relative_to(raw_folder).as_posix() for f in files] == [
        "orders.csv", "pnc_arrests.csv", "pnd_records.csv", "rocu/a.xlsx"]
    assert len(skipped) == 1 and "evil.xlsx" in skipped[0] and "outside the raw folder" in skipped[0]
    assert "secret" not in skipped[0]  # the link's target is not printed
