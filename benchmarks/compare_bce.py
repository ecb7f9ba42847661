"""neos vs the same network trained on binary cross-entropy: hard expected CLs on a test sample.

For each seed, the default neos setup (4 blobs x 500 events, MLP 2-1024-1024-1, bins
linspace(0, 1, 4), KDE bandwidth 0.27, Adam 1e-3, histosys background, mu = 1) is trained twice
from the same initial parameters on the same events: on the expected CLs (neos, --steps steps)
and on the binary cross-entropy (BCE, each of --bce-steps, default 1x and 4x --steps, one run
continued from its checkpoint). Both trained networks are scored identically: the expected
CLs at mu = 1 of the histosys workspace built from hard histograms of the same independent test
sample with the same (fixed) bins. Lower is better. The BCE loss's relative decrease over its
last quarter of steps (loss_plateau) says whether the baseline has converged.

Prints JSON (per seed, summaries, timings; see neos.compare.compare_bce); --output also writes
it to a file (atomically). Progress goes to stderr. Timings are wall clock on a shared machine.

    python benchmarks/compare_bce.py                     # 5 seeds, neos 100 steps, BCE 100 and 400
    python benchmarks/compare_bce.py --seeds 2 --steps 20 --hidden 64,64 --nmc 200   # quick
    python benchmarks/compare_bce.py --analysis neos/examples/dilepton.toml --seeds 10 \
        --steps 200 --bce-steps 200,800     # an analysis description (25 systematics)

With ``--analysis`` the analysis's settings (network, bins, learning rate) replace the blob
options, the seed fixes the split into training and test events and the initial parameters,
and the workspace is the analysis's (all channels and systematics); a third arm, bce+cuts,
is the longest BCE network with the best cut-based binning of its output (bin edges chosen on
the training events), and every arm is also scored by the POI uncertainty of its test
workspace. ``sign_test_p`` in the summary is the two-sided exact sign test of the wins
(neos_wins out of n_seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax

from neos.compare import compare_bce
from neos.train import TrainConfig
from relaxed.io import write_text_atomic


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        message = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds, 0..N-1 (5)")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed (0)")
    parser.add_argument("--steps", type=int, default=100, help="neos steps (100)")
    parser.add_argument(
        "--bce-steps", type=_ints, default=None, help="BCE lengths, e.g. 100,400 (steps,4*steps)"
    )
    parser.add_argument("--nmc", type=int, default=500, help="events per blob (500)")
    parser.add_argument("--hidden", type=_ints, default=[1024, 1024], help="hidden widths")
    parser.add_argument("--curves", action="store_true", help="loss and soft CLs of every step")
    parser.add_argument("--output", default=None, help="also write the JSON to this file")
    parser.add_argument("--analysis", default=None, help="an analysis description (TOML)")
    args = parser.parse_args()

    analysis = None
    config = TrainConfig(nmc=args.nmc, hidden=tuple(args.hidden), animate=False)
    if args.analysis is not None:
        from neos.analysis import load_analysis

        analysis, config = load_analysis(args.analysis), None
    start = time.perf_counter()
    result = compare_bce(
        seeds=list(range(args.first_seed, args.first_seed + args.seeds)),
        steps=args.steps,
        bce_steps=args.bce_steps,
        config=config,
        analysis=analysis,
        curves=args.curves,
        log=lambda line: print(f"[{time.perf_counter() - start:7.1f} s] {line}", file=sys.stderr),
    )
    report = {
        "benchmark": "neos_vs_bce_hard_test_cls",
        "command": " ".join(["python", "benchmarks/compare_bce.py", *sys.argv[1:]]),
        **result,
        "notes": [
            "cls_hard_test: expected CLs at mu=1, hard histograms of the test sample; lower is "
            "better.",
            "neos_wins[bce@N]: seeds where neos's cls_hard_test is below BCE's after N steps.",
            "poi_uncert_hard_test: the Cramer-Rao POI uncertainty of the same test workspace at "
            "mu=1 (neos_wins_poi_uncert etc. compare it); lower is better.",
            "bce+cuts@N (with --analysis): the N-step BCE network with its bin edges chosen on "
            "the training events to minimise the hard expected CLs (best_cut_binning), scored "
            "on the test events.",
            "bce step times include the soft CLs computed every step as a monitor (not "
            "differentiated); the first run of each loss includes the XLA compilation, later "
            "seeds reuse the compiled step.",
            "wall times are from a shared 2-core machine: other jobs ran at the same time.",
        ],
        "versions": {"jax": jax.__version__, "python": platform.python_version()},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    text = json.dumps(report, indent=2)
    if args.output:
        write_text_atomic(Path(args.output), text + "\n")
    print(text)


if __name__ == "__main__":
    main()
