#!/usr/bin/env python3
"""Per-unit agreement of two asdm profiles (e.g. cupti against cuda-events on one GPU).

    scripts/compare_profiles.py A.json B.json [--min-ms 0.1] [--tolerance 0.10]

For every unit whose median is above --min-ms in both, prints the ratio B/A, and a summary: how many
agree within the tolerance, the worst ratio, and each profile's coverage and overhead. The time
compared is the unit's inclusive time; for a CUPTI profile, its device span (first kernel start to
last kernel end, the quantity CUDA events measure) and, in a second summary line, its busy time
(union of kernel intervals, idle gaps out).
Exit status 0 whether or not they agree (this is a measurement, not a test)."""
import argparse
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--min-ms", type=float, default=0.1)
    ap.add_argument("--tolerance", type=float, default=0.10)
    args = ap.parse_args()
    pa, pb = (json.load(open(p)) for p in (args.a, args.b))
    def value(u, busy):
        if not busy and "device_span_ms" in u:
            return u["device_span_ms"]["median"]
        return u["inclusive_ms"]["median"]

    def compare(busy):
        ua = {u["id"]: u for u in pa["units"]}
        rows = []
        for u in pb["units"]:
            a = ua.get(u["id"])
            if not a:
                continue
            ma, mb = value(a, busy), value(u, busy)
            if ma > args.min_ms and mb > args.min_ms:
                rows.append((u["id"], ma, mb, mb / ma))
        return rows

    rows = compare(False)
    for p in (pa, pb):
        print(f'{p["backend"]:12s} forward {p["forward_ms"]["median"]:.3f} ms, unobserved '
              f'{p["unobserved_forward_ms"]["median"]:.3f} ms, overhead {100 * p["overhead"]:.2f}%, '
              f'coverage {100 * p["coverage"]:.2f}% ({p.get("coverage_definition", "")})')
    print(f'{"unit":55s} {pa["backend"]:>12s} {pb["backend"]:>12s}  ratio')
    for r in sorted(rows, key=lambda r: -abs(r[3] - 1)):
        print(f"{r[0]:55s} {r[1]:12.3f} {r[2]:12.3f}  {r[3]:.3f}")
    for label, rs in (("span", rows), ("busy", compare(True))):
        within = sum(1 for r in rs if abs(r[3] - 1) <= args.tolerance)
        worst = max(rs, key=lambda r: abs(r[3] - 1)) if rs else None
        print(f"{label}: {within}/{len(rs)} units over {args.min_ms} ms agree within {100 * args.tolerance:.0f}%"
              + (f"; worst {worst[0]} at {worst[3]:.3f}" if worst else ""))


if __name__ == "__main__":
    main()
