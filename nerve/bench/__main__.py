"""``python -m nerve.bench``: run the benchmark suites and print a table of ratios against PyTorch."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from . import SUITES, format_table, machine


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="nerve bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer steps (a smoke run, not for reporting)")
    p.add_argument("--only", nargs="*", choices=SUITES, help="run only these suites")
    p.add_argument("--json", help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    rows = []
    for name in args.only or SUITES:
        try:
            mod = importlib.import_module(f"nerve.bench.{name}")
        except ImportError as e:
            print(f"[{name}] skipped: {e}", file=sys.stderr)
            continue
        print(f"[{name}] running...", flush=True)
        got = mod.run(args.quick)
        for r in got:
            ratio = f"{r['ratio']:.2f}x" if r.get("ratio") is not None else "-"
            print(f"  {r['name']}: nerve {r['nerve_s']:.4f}s torch {r['torch_s']} ratio {ratio} {r.get('note', '')}", flush=True)
        rows += got
    print()
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
