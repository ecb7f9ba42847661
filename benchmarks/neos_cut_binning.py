"""The neos networks with the best cut-based binning: is the gap to BCE the binning or the network?

For each seed, the neos run of ``compare_bce.py --analysis FILE --steps N`` (the same seed,
events, network and settings, loss ``cls``) is trained again, and
:func:`neos.compare.best_cut_binning` chooses its interior bin edges on the training events
and scores them on the test events, exactly as for the ``bce+cuts`` arm. Prints JSON (one
record per seed: the neos network's hard test CLs with the description's bins and with the
chosen ones, the POI uncertainty, the bins); progress goes to stderr.

    python benchmarks/neos_cut_binning.py --analysis neos/examples/dilepton.toml --seeds 10
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time

from neos.analysis import load_analysis
from neos.compare import best_cut_binning
from neos.train import TrainingError, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analysis", required=True, help="an analysis description (TOML)")
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds, 0..N-1 (10)")
    parser.add_argument("--steps", type=int, default=200, help="neos steps (200)")
    args = parser.parse_args()
    analysis = load_analysis(args.analysis)
    runs = []
    start = time.perf_counter()
    for seed in range(args.seeds):
        cfg = dataclasses.replace(analysis.config, seed=seed, loss="cls", steps=args.steps)
        seeded = dataclasses.replace(analysis, config=cfg)
        try:
            result = train(analysis=seeded, progress=False)
        except TrainingError as err:
            runs.append({"seed": seed, "failed": str(err)})
            continue
        cuts = best_cut_binning(seeded, result["params"])
        fixed = result["cls_hard_test"]
        runs.append({"seed": seed, "neos_fixed_bins_cls_hard_test": fixed, **cuts})
        print(
            f"[{time.perf_counter() - start:7.1f} s] seed {seed}: neos {fixed:.3g}, with the "
            f"best cut-based bins {cuts['cls_hard_test']:.3g}",
            file=sys.stderr,
        )
    finished = [r for r in runs if "failed" not in r]
    summary = {
        "median_cls_hard_test": statistics.median(r["cls_hard_test"] for r in finished),
        "median_poi_uncert_hard_test": statistics.median(
            r["poi_uncert_hard_test"] for r in finished
        ),
        "better_than_fixed_bins": sum(
            r["cls_hard_test"] < r["neos_fixed_bins_cls_hard_test"] for r in finished
        ),
        "failed": len(runs) - len(finished),
    }
    report = {
        "benchmark": "neos_with_best_cut_binning",
        "command": " ".join(["python", "benchmarks/neos_cut_binning.py", *sys.argv[1:]]),
        "runs": runs,
        "summary": summary,
        "total_s": time.perf_counter() - start,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
