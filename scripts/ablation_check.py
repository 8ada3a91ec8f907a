#!/usr/bin/env python3
"""Predictive power of tier-1 importance on the proxy teacher (issue 5's acceptance).

1. Tier 1 on every removable unit of the teacher, on validation prompts (default 16, K = 4).
2. Three kinds of removal sets of a quarter of the units: the lowest tier-1 scores, the highest,
   and random quarters (default 5 draws, seeded).
   (Steps resume: a finished step is not redone.)
3. Each set removed together (asdm ablate --groups-only --tier 2) on held-out test prompts: the
   attribute accuracy of the samples, against the teacher's.

Prints a Markdown table and writes check.json to the output folder. Usage:
  scripts/ablation_check.py [--asdm build/asdm] [--model assets/proxy-default/teacher] [--out runs/ablation-check]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time


def run(cmd):
    print("$", " ".join(cmd), flush=True)
    t0 = time.time()
    subprocess.run(cmd, check=True)
    return time.time() - t0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--asdm", default=os.path.join(root, "build", "asdm"))
    ap.add_argument("--model", default=os.path.join(root, "assets", "proxy-default", "teacher"))
    ap.add_argument("--val-prompts", default=os.path.join(root, "configs", "prompts", "proxy-default-val.txt"))
    ap.add_argument("--test-prompts", default=os.path.join(root, "configs", "prompts", "proxy-default-test.txt"))
    ap.add_argument("--val-count", type=int, default=16, help="validation prompts for tier 1")
    ap.add_argument("--test-count", type=int, default=200, help="test prompts for the removal sets")
    ap.add_argument("--draws", type=int, default=5, help="random quarters")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", default="2")
    ap.add_argument("--out", default=os.path.join(root, "runs", "ablation-check"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    def head(src, n, dst):
        with open(src) as f:
            lines = [l for l in f.read().splitlines() if l.strip()][:n]
        with open(dst, "w") as f:
            f.write("\n".join(lines) + "\n")
        return dst

    val = head(a.val_prompts, a.val_count, os.path.join(a.out, "val.txt"))
    test = head(a.test_prompts, a.test_count, os.path.join(a.out, "test.txt"))
    tier1 = os.path.join(a.out, "tier1.json")
    t1_seconds = run([a.asdm, "-q", "ablate", "--model", a.model, "--prompts", val, "--tier", "1", "--timesteps", "4",
                      "--threads", a.threads, "--resume", "-o", tier1])
    doc = json.load(open(tier1))
    ranking = doc["ranking"]["tier1"]  # highest first
    n = len(ranking)
    q = n // 4
    sets = {"lowest tier-1 quarter": sorted(ranking[-q:]), "highest tier-1 quarter": sorted(ranking[:q])}
    rng = random.Random(a.seed)
    for d in range(a.draws):
        sets[f"random quarter {d + 1}"] = sorted(rng.sample(ranking, q))
    groups = os.path.join(a.out, "groups.txt")
    with open(groups, "w") as f:
        for units in sets.values():
            f.write(",".join(units) + "\n")
    tier2 = os.path.join(a.out, "tier2.json")
    t2_seconds = run([a.asdm, "-q", "ablate", "--model", a.model, "--prompts", test, "--tier", "2", "--groups", groups,
                      "--groups-only", "--threads", a.threads, "--resume", "-o", tier2])
    doc2 = json.load(open(tier2))
    teacher = doc2["teacher"]["quality"]
    by_units = {frozenset(r["units"]): r for r in doc2["results"]}
    rows = []
    for name, units in sets.items():
        r = by_units[frozenset(units)]
        qd = r["tier2"]["quality"]
        rows.append({"set": name, "units": units, "mean_accuracy": qd["mean_accuracy"],
                     "all_correct": qd["all_correct"], "proxy_fid": qd.get("proxy_fid"),
                     "accuracy_drop": teacher["mean_accuracy"] - qd["mean_accuracy"],
                     "ssim_loss": r["tier2"]["ssim_loss"]["mean"]})
    rand = [r for r in rows if r["set"].startswith("random")]
    summary = {
        "units": n, "quarter": q, "val_prompts": a.val_count, "test_prompts": a.test_count,
        "teacher_mean_accuracy": teacher["mean_accuracy"],
        "lowest_quarter_drop": rows[0]["accuracy_drop"],
        "random_quarter_drop_mean": sum(r["accuracy_drop"] for r in rand) / len(rand),
        "highest_quarter_drop": rows[1]["accuracy_drop"],
        "tier1_seconds": t1_seconds, "tier2_seconds": t2_seconds,
    }
    summary["ordered"] = summary["lowest_quarter_drop"] < summary["random_quarter_drop_mean"] < summary["highest_quarter_drop"]
    json.dump({"summary": summary, "sets": rows}, open(os.path.join(a.out, "check.json"), "w"), indent=1)
    print(f"\n{n} units, quarters of {q}; tier 1 on {a.val_count} validation prompts ({t1_seconds:.0f} s), "
          f"removal sets on {a.test_count} test prompts ({t2_seconds:.0f} s); teacher mean accuracy "
          f"{teacher['mean_accuracy']:.3f}\n")
    print("| removed (a quarter of the units) | mean attribute accuracy | drop | all correct | proxy FID | 1 - SSIM |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        fid = "-" if r["proxy_fid"] is None else f"{r['proxy_fid']:.0f}"
        print(f"| {r['set']} | {r['mean_accuracy']:.3f} | {r['accuracy_drop']:.3f} | {r['all_correct']:.3f} | {fid} | "
              f"{r['ssim_loss']:.3f} |")
    print(f"\nlowest {summary['lowest_quarter_drop']:.3f} < random (mean of {len(rand)}) "
          f"{summary['random_quarter_drop_mean']:.3f} < highest {summary['highest_quarter_drop']:.3f}: "
          f"{'yes' if summary['ordered'] else 'NO'}")
    return 0 if summary["ordered"] else 1


if __name__ == "__main__":
    sys.exit(main())
