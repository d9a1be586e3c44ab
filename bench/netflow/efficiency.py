#!/usr/bin/env python3
"""Contention-independent view of a bench.py JSONL: per stream x collector, the zero-loss knee and
the records decoded per second of collector CPU (median over its runs with >= 1 s of CPU), which
stays meaningful when other tenants share the machine (the 'other tenants CPU %' column)."""
import json
import statistics
import sys
from collections import OrderedDict

rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.strip()]
by = OrderedDict()
for r in rows:
    by.setdefault((r.get("stream"), r.get("collector")), []).append(r)
print("| stream | collector | zero-loss knee (pps) | records / collector CPU-s (median) | runs | other tenants CPU % (median) |")
print("|---|---|---|---|---|---|")
for (stream, col), rs in by.items():
    last = OrderedDict((r["target_pps"], r) for r in rs)  # last attempt per rate, as report.py
    ok = [p for p, r in last.items() if r.get("zero_loss") and not r.get("error")]
    eff = [r["recv"] / r["collector_cpu_s"] for r in rs
           if r.get("recv") and r.get("collector_cpu_s", 0) >= 1.0 and r.get("basis") == "records"]
    oth = [r["other_cpu_pct"] for r in rs if r.get("other_cpu_pct") is not None]
    print(f"| {stream} | {col} | {int(max(ok)) if ok else '< lowest tried'} | "
          f"{round(statistics.median(eff)) if eff else ''} | {len(rs)} | {round(statistics.median(oth)) if oth else ''} |")
