"""Opens ecrgc's HTML report in a real headless Chromium and checks it against report.json.

    python testing/report/check_html.py REPORT_HTML REPORT_JSON [--chromium PATH]

Chromium loads the page from disk with the network off, runs its script, and hands back
the DOM (--dump-dom) and a screenshot. The checks:
  * the script ran to the end: <body data-charts-ready="5">;
  * every chart is there: one bar per group with bytes (at most 12) carrying the group's
    exact bytes, one trend point per night and series carrying the JSON's values;
  * every number cell of every table equals the JSON report's field for that row;
  * the screenshot is a real picture (many distinct colours), not a blank page.
Prints one line per check and exits 1 on the first failure.
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from html.parser import HTMLParser

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--virtual-time-budget=5000",
]


class Dom(HTMLParser):
    """Collects the elements the checks read: chart marks, table cells and body attrs."""

    def __init__(self):
        super().__init__()
        self.body = {}
        self.figure = None
        self.marks = {}  # chart -> list of attrs of rect.bar / circle.point
        self.table = None
        self.row = None
        self.cells = {}  # table id -> {row key -> {field -> data-value}}
        self.fig_depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "figure" and "data-chart" in a:
            self.figure = a["data-chart"]
            self.marks.setdefault(self.figure, [])
        if self.figure and tag in ("rect", "circle") and "data-value" in a:
            self.marks[self.figure].append(a)
        if tag == "table" and "id" in a:
            self.table = a["id"]
            self.cells.setdefault(self.table, {})
        if tag == "tr" and self.table and "data-key" in a:
            self.row = a["data-key"]
            self.cells[self.table][self.row] = {}
        if tag == "td" and self.row is not None and "data-field" in a:
            self.cells[self.table][self.row][a["data-field"]] = a.get("data-value")

    def handle_endtag(self, tag):
        if tag == "figure":
            self.figure = None
        if tag == "table":
            self.table = None
        if tag == "tr":
            self.row = None


def fail(msg):
    print(f"FAIL {msg}")
    sys.exit(1)


def ok(msg):
    print(f"ok   {msg}")


def png_colours(path):
    """Distinct colours of an 8-bit RGB(A) PNG, without a third-party library."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path} is not a PNG")
    pos, idat, width, height, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8 or ctype not in (2, 6):
                fail(f"unexpected PNG format depth={depth} type={ctype}")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    bpp = 3 if ctype == 2 else 4
    stride = width * bpp
    prev = bytearray(stride)
    colours = set()
    i = 0
    for _ in range(height):
        f = raw[i]
        line = bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = prev[x]
            ul = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + left) & 0xFF
            elif f == 2:
                line[x] = (line[x] + up) & 0xFF
            elif f == 3:
                line[x] = (line[x] + ((left + up) >> 1)) & 0xFF
            elif f == 4:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                pr = left if pa <= pb and pa <= pc else (up if pb <= pc else ul)
                line[x] = (line[x] + pr) & 0xFF
        for x in range(0, stride, bpp * 7):
            colours.add(bytes(line[x : x + 3]))
        prev = line
    return colours


def as_number(v):
    return float(v) if v not in (None, "") else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("html")
    ap.add_argument("json")
    ap.add_argument("--chromium", default=os.environ.get("ECRGC_CHROMIUM", "chromium"))
    args = ap.parse_args()
    report = json.load(open(args.json))
    url = "file://" + os.path.abspath(args.html)
    with tempfile.TemporaryDirectory() as profile:
        base = [args.chromium, *FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run(
            base + ["--dump-dom", url], capture_output=True, text=True, timeout=120
        )
        if dom.returncode != 0 or "<html" not in dom.stdout:
            fail(f"chromium --dump-dom failed ({dom.returncode}): {dom.stderr[-2000:]}")
        shot = os.path.join(profile, "page.png")
        r = subprocess.run(
            base + ["--window-size=1300,1600", f"--screenshot={shot}", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if r.returncode != 0 or not os.path.exists(shot):
            fail(f"chromium --screenshot failed ({r.returncode}): {r.stderr[-2000:]}")
        colours = len(png_colours(shot))
    if colours < 20:
        fail(f"the screenshot has {colours} colours: the page did not render")
    ok(f"rendered: the screenshot has {colours} sampled colours")

    d = Dom()
    d.feed(dom.stdout)
    if d.body.get("data-charts-ready") != "5":
        fail(f"the chart script did not finish: body attrs {d.body}")
    ok("the chart script ran: 5 charts drawn")

    for chart in ("by_rule", "by_owner", "by_account", "top_repositories"):
        expected = [(g["key"], g["bytes"]) for g in report[chart] if g["bytes"] > 0][:12]
        marks = [(m["data-key"], int(m["data-value"])) for m in d.marks.get(chart, [])]
        if marks != expected:
            fail(f"chart {chart}: bars {marks} != report.json {expected}")
        ok(f"chart {chart}: {len(marks)} bars equal report.json")
    points = d.marks.get("trend", [])
    expected = [
        (s, p["run_id"], p[s])
        for s in ("stored_bytes", "unused_bytes", "candidate_bytes")
        for p in report["trend"]
    ]
    got = [(m["data-series"], m["data-key"], int(m["data-value"])) for m in points]
    if got != expected or not got:
        fail(f"trend chart: {got} != report.json {expected}")
    ok(f"chart trend: {len(got)} points equal report.json")

    tables = {
        "by_rule": report["by_rule"],
        "by_account": report["by_account"],
        "by_region": report["by_region"],
        "by_owner": report["by_owner"],
        "top_repositories": report["top_repositories"],
        "protected_by_reason": report["protected_by_reason"],
    }
    cells = 0
    for table, groups in tables.items():
        rows = d.cells.get(table, {})
        if set(rows) != {g["key"] for g in groups}:
            fail(f"table {table}: rows {sorted(rows)} != {sorted(g['key'] for g in groups)}")
        for g in groups:
            for field, value in rows[g["key"]].items():
                want = g[field]
                if as_number(value) != (float(want) if want is not None else None):
                    fail(f"table {table} row {g['key']} {field}: {value} != {want}")
                cells += 1
    trend_rows = d.cells.get("trend", {})
    for p in report["trend"]:
        for field, value in trend_rows.get(p["run_id"], {}).items():
            if as_number(value) != float(p[field]):
                fail(f"trend row {p['run_id']} {field}: {value} != {p[field]}")
            cells += 1
    if len(trend_rows) != len(report["trend"]):
        fail(f"trend table has {len(trend_rows)} rows, report.json {len(report['trend'])}")
    inspector_rows = d.cells.get("inspector_coverage", {})
    expected_inspector = {f"{c['account_id']}/{c['region']}": c for c in report.get("inspector_coverage", [])}
    if sorted(inspector_rows) != sorted(expected_inspector):
        fail(f"inspector_coverage rows {sorted(inspector_rows)} != {sorted(expected_inspector)}")
    for key, fields in inspector_rows.items():
        for field, value in fields.items():
            if as_number(value) != float(expected_inspector[key][field]):
                fail(f"inspector_coverage row {key} {field}: {value} != {expected_inspector[key][field]}")
            cells += 1
    ok(f"tables: {cells} number cells equal report.json")
    print("check_html: all checks passed")


if __name__ == "__main__":
    main()
