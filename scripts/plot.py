#!/usr/bin/env python3
"""Draw the paper figures from a results folder's tidy data, with matplotlib, to restyle.

    python3 scripts/plot.py DIR [--out OUTDIR] [--run RUN] [--format pdf,png]

Reads DIR/results.csv (one row per result; written by every report) and, when present,
DIR/samples.csv.gz (every raw sample, long format: run,result,bench,i,value), and writes
into OUTDIR (default DIR/plots-py/):

  pf_latency_ecdf.*        page-fault latency ECDFs on a log x axis, one panel per kind of
                           fault (bench and params but `part`), the total solid and its
                           handler / trap parts dashed / dotted; exact step curves from the raw
                           samples, else the cumulative fraction at each log2 bucket's bounds
  shootdown_vs_targets.*   shootdown p50 vs target CPUs at 1 page in the kernel half, one line
                           per protocol (or per delivery when one protocol was run), whiskers
                           p5-p95 (min-p90 for records without p5/p95)

A results.csv of several runs (a repeated run's boots) is drawn from its first run unless
--run names another. Needs only matplotlib (no pandas); the project itself never needs this
script: the report draws its own SVG and PDF figures (DIR/plots/).
"""

import argparse
import csv
import gzip
import math
import os
import sys
import textwrap
from collections import OrderedDict, defaultdict

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit(
        "plot.py needs matplotlib, which is not installed for this Python "
        f"({sys.executable}).\n"
        "Install it with your package manager (Debian/Ubuntu: apt install python3-matplotlib) "
        "or in a virtual environment (python3 -m venv .venv && .venv/bin/pip install "
        "matplotlib), then run this script again."
    )

COLUMN = 3.3  # inches: one column of a two-column paper
FULL = 7.0  # inches: the full text width
PART_STYLE = {"total": "-", "handler": "--", "trap": ":"}
RELAXED = {"lazy_epoch", "deferred"}

plt.rcParams.update(
    {
        "font.family": "sans-serif",
        "font.sans-serif": ["Helvetica", "Arial", "Liberation Sans", "Nimbus Sans", "DejaVu Sans"],
        "font.size": 7,
        "axes.titlesize": 8,
        "axes.labelsize": 8,
        "legend.fontsize": 7,
        "xtick.labelsize": 7,
        "ytick.labelsize": 7,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#e4e4e4",
        "grid.linewidth": 0.4,
        "lines.linewidth": 1.0,
        "pdf.fonttype": 42,
        "savefig.bbox": "tight",
        "savefig.pad_inches": 0.02,
    }
)


def number(cell):
    """A numeric cell as a float, None when empty or not a number."""
    try:
        return float(cell)
    except (TypeError, ValueError):
        return None


def read_results(path, run=None):
    """The rows of one run of results.csv (its first unless `run`), and every run's id."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    runs = list(OrderedDict.fromkeys(r.get("run", "") for r in rows))
    if not rows:
        sys.exit(f"{path}: no rows")
    want = run if run is not None else runs[0]
    if want not in runs:
        sys.exit(f"{path}: no run `{want}` (runs: {', '.join(runs)})")
    if len(runs) > 1 and run is None:
        print(f"{path}: {len(runs)} runs; drawing the first, `{want}` (--run to choose)", file=sys.stderr)
    mine = [r for r in rows if r.get("run", "") == want]
    for i, r in enumerate(mine):
        # The result's position in its run: the key into samples.csv.gz.
        r["_pos"] = int(r["result"]) if r.get("result", "").strip() else i
    return mine, want


def read_samples(path, run):
    """samples.csv.gz: result position -> values, for `run` (or the file's first run)."""
    by_run = defaultdict(lambda: defaultdict(list))
    first = None
    with gzip.open(path, "rt", newline="") as f:
        try:
            for row in csv.DictReader(f):
                first = first or row["run"]
                by_run[row["run"]][int(row["result"])].append(int(row["value"]))
        except (EOFError, OSError):
            pass  # a stream cut short (a killed run): keep what was read
    if run in by_run:
        return by_run[run]
    return by_run.get(first, {})


def params(row):
    """The row's params (columns params.<key>), empty ones left out."""
    return {k[7:]: v for k, v in row.items() if k.startswith("params.") and v != ""}


def hist(row):
    """The log2 histogram cell `lower:count;...` as [(lower, count)]."""
    out = []
    for pair in (row.get("hist") or "").split(";"):
        if ":" in pair:
            lb, c = pair.split(":")
            out.append((int(lb), int(c)))
    return sorted(out)


def ecdf(row, samples):
    """(xs, ys, exact): the ECDF as a step curve of the raw samples, else through each log2
    bucket's bounds (exact there, straight in between)."""
    values = samples.get(row["_pos"])
    n = number(row.get("n"))
    if values and (n is None or len(values) == int(n)):
        v = sorted(values)
        xs = [max(x, 1) for x in v]
        ys = [(i + 1) / len(v) for i in range(len(v))]
        return xs, ys, True
    h = [(lb, c) for lb, c in hist(row) if c > 0]
    total = sum(c for _, c in h)
    if not total:
        return None
    xs, ys, cum, prev_upper = [max(h[0][0], 1)], [0.0], 0, None
    for lb, c in h:
        upper = 1 if lb == 0 else 2 * lb
        if prev_upper is not None and prev_upper < lb:
            xs.append(lb)
            ys.append(cum / total)
        cum += c
        xs.append(upper)
        ys.append(cum / total)
        prev_upper = upper
    return xs, ys, False


def suptitle(fig, text, width):
    """A figure title wrapped to the figure's width (about 18 characters of 8 pt per inch)."""
    fig.suptitle(textwrap.fill(text, int(width * 18)), fontsize=8, x=0.01, ha="left")


def save(fig, out, name, formats):
    for fmt in formats:
        path = os.path.join(out, f"{name}.{fmt}")
        fig.savefig(path, dpi=300)
        print(path)
    plt.close(fig)


def pf_latency(rows, samples, out, formats):
    cands = [
        r
        for r in rows
        if r["bench"].startswith("pf_") and r["unit"] in ("cycles", "instructions")
    ]
    cands = [r for r in cands if r["unit"] == cands[0]["unit"]] if cands else []
    panels = OrderedDict()
    for r in cands:
        # Params in their column order (the record's), for the titles.
        p = [(k, v) for k, v in params(r).items() if k not in ("part", "os")]
        key = (r["bench"], tuple(p))
        panels.setdefault(key, []).append(r)
    if not panels:
        print("no pf_* latency results: pf_latency_ecdf skipped", file=sys.stderr)
        return
    keys = list(panels)
    common = set(keys[0][1]).intersection(*(set(k[1]) for k in keys[1:]))
    n = len(keys)
    cols = 1 if n == 1 else 2 if n in (2, 4) else 3
    nrows = math.ceil(n / cols)
    width = COLUMN if n == 1 else FULL
    fig, axes = plt.subplots(
        nrows, cols, figsize=(width, 1.75 * nrows + 0.5), sharex=True, sharey=True, squeeze=False
    )
    lines = OrderedDict()
    exact_any, buckets_any = False, False
    for ax, key in zip(axes.flat, keys):
        bench, p = key
        own = [v for k, v in p if (k, v) not in common]
        mode = dict(p).get("mode")
        title = ", ".join(own) if own else bench
        if mode is None or bench != f"pf_{mode}":
            title = f"{bench}: {title}" if own else bench
        ax.set_title(title, loc="left", fontweight="bold")
        for r in panels[key]:
            pr = params(r)
            part = pr.get("part", "total")
            label = f"{pr['os']} {part}" if "os" in pr else part
            color = lines.setdefault(label, f"C{len(lines) % 10}")
            curve = ecdf(r, samples)
            if curve is None:
                continue
            xs, ys, exact = curve
            exact_any |= exact
            buckets_any |= not exact
            draw = ax.step if exact else ax.plot
            kw = {"where": "post"} if exact else {}
            draw(xs, ys, color=color, linestyle=PART_STYLE.get(part, "-."), label=label, **kw)
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    unit = cands[0]["unit"]
    for ax in axes[-1]:
        ax.set_xlabel(f"latency ({unit}), log scale")
    for ax in axes[:, 0]:
        ax.set_ylabel("cumulative fraction")
    source = (
        "raw samples"
        if exact_any and not buckets_any
        else "log2 buckets (cumulative fraction at each bucket's upper bound)"
        if not exact_any
        else "raw samples; log2 buckets where a result has none"
    )
    shared = ", ".join(f"{k}={v}" for k, v in sorted(common))
    suptitle(
        fig,
        f"Page-fault latency distributions (ECDF from {source})"
        + (f"; all: {shared}" if shared else ""),
        width,
    )
    handles, labels = [], []
    for ax in axes.flat[:n]:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    fig.legend(handles, labels, loc="lower left", ncol=min(len(labels), 6), frameon=False, bbox_to_anchor=(0, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    save(fig, out, "pf_latency_ecdf", formats)


def shootdown_vs_targets(rows, out, formats):
    def keep(r):
        p = params(r)
        return (
            r["bench"] == "shootdown"
            and number(p.get("pages")) == 1
            and p.get("flush") != "full"
            and (number(p.get("targets")) or 0) > 0
            and p.get("space", "kernel") == "kernel"
        )

    cands = [r for r in rows if keep(r)]
    if not cands:
        print("no shootdown results at pages=1: shootdown_vs_targets skipped", file=sys.stderr)
        return
    cands = [r for r in cands if r["unit"] == cands[0]["unit"]]
    protocols = list(OrderedDict.fromkeys(params(r).get("protocol", "sync") for r in cands))
    if len(protocols) > 1:
        # One line per protocol, with its own notification (unicast, or none).
        cands = [r for r in cands if params(r).get("delivery", "unicast") in ("unicast", "none")]
        line_of = lambda r: params(r).get("protocol", "sync")
    else:
        line_of = lambda r: params(r).get("delivery", "")
    groups = OrderedDict()
    for r in cands:
        groups.setdefault(line_of(r), {}).setdefault(number(params(r)["targets"]), r)
    strict = [g for g in groups if g not in RELAXED]
    relaxed = [g for g in groups if g in RELAXED]
    # At most 6 lines in one panel: the relaxed protocols get their own beside it.
    split = len(groups) > 6 and strict and relaxed
    panels = [strict, relaxed] if split else [list(groups)]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(FULL if split else COLUMN, 2.6), sharey=True, squeeze=False
    )
    all_p5 = all(number(r.get("p5")) is not None and number(r.get("p95")) is not None for r in cands)
    xs_all = sorted({number(params(r)["targets"]) for r in cands})
    for ax, names in zip(axes[0], panels):
        for i, name in enumerate(names):
            pts = sorted(groups[name].items())
            xs = [t for t, _ in pts]
            ys = [number(r["p50"]) for _, r in pts]
            lo, hi = [], []
            for (_, r), y in zip(pts, ys):
                a, b = number(r.get("p5")), number(r.get("p95"))
                if a is None or b is None:
                    a, b = number(r["min"]), number(r["p90"])
                lo.append(y - a)
                hi.append(b - y)
            color = f"C{list(groups).index(name) % 10}"
            ax.errorbar(xs, ys, yerr=[lo, hi], color=color, marker="o", markersize=3, capsize=2, elinewidth=0.6, label=name)
        if max(xs_all) >= 8:
            ax.set_xscale("log", base=2)
        else:
            ax.set_xlim(min(xs_all) - 0.5, max(xs_all) + 0.5)
        ax.set_xticks(xs_all)
        ax.set_xticklabels([f"{x:g}" for x in xs_all])
        ax.minorticks_off()
        ax.set_xlabel("target CPUs")
        ax.legend(frameon=False)
    unit = cands[0]["unit"]
    axes[0][0].set_ylabel(f"p50 latency ({unit})")
    ys = [number(r["p50"]) for r in cands]
    if min(ys) > 0 and max(ys) / min(ys) > 100:
        axes[0][0].set_yscale("log")
    whiskers = "p5-p95" if all_p5 else "p5-p95 (min-p90 where a record has no p5/p95)"
    suptitle(
        fig,
        f"TLB shootdown latency vs target CPUs, 1 page, kernel half (p50, whiskers {whiskers})",
        FULL if split else COLUMN,
    )
    fig.tight_layout()
    save(fig, out, "shootdown_vs_targets", formats)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", help="a results folder with results.csv")
    ap.add_argument("--out", help="where to write the figures (default DIR/plots-py)")
    ap.add_argument("--run", help="the run to draw (the `run` column; default the first)")
    ap.add_argument("--format", default="pdf,png", help="file formats, comma-separated (default pdf,png)")
    a = ap.parse_args()
    path = os.path.join(a.dir, "results.csv")
    if not os.path.isfile(path):
        sys.exit(f"{path}: no such file (write the report first: runner report DIR)")
    rows, run = read_results(path, a.run)
    spath = os.path.join(a.dir, "samples.csv.gz")
    samples = read_samples(spath, run) if os.path.isfile(spath) else {}
    out = a.out or os.path.join(a.dir, "plots-py")
    os.makedirs(out, exist_ok=True)
    formats = [f.strip() for f in a.format.split(",") if f.strip()]
    pf_latency(rows, samples, out, formats)
    shootdown_vs_targets(rows, out, formats)


if __name__ == "__main__":
    main()
