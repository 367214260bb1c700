"""The differential fuzzer from the command line, for long runs and for reproducing a seed.

    python -m tests.fuzz.run --count 5000            # seeds 0..4999
    python -m tests.fuzz.run --seed 346 --count 1    # one program, shrunk if it fails
    python -m tests.fuzz.run --seed 346 --show       # print the program's source
    python -m tests.fuzz.run --constructs all --count 1000   # every gated construct too
    python -m tests.fuzz.run --constructs node:zip,node:match --count 200

Exit status 1 when any program fails; the first failure of each kind is shrunk and printed.
"""

from __future__ import annotations

import argparse
import logging
import sys

from tests.fuzz.campaign import Campaign, reproducer, run_campaign
from tests.fuzz.emit import emit
from tests.fuzz.program import construct_mix, generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--count", type=int, default=200, help="programs (default 200)")
    parser.add_argument("--batch", type=int, default=50, help="programs per static analysis")
    parser.add_argument("--show", action="store_true", help="print the first program and stop")
    parser.add_argument("--no-shrink", action="store_true", help="print failures unshrunk")
    parser.add_argument(
        "--constructs",
        default="default",
        help="gated constructs in the mix: default (ENABLED_CONSTRUCTS), all, "
        "or names separated by commas (tests/fuzz/program.py)",
    )
    args = parser.parse_args(argv)
    try:
        constructs = construct_mix(args.constructs)
    except ValueError as error:
        parser.error(str(error))
    if args.show:
        print(emit(generate(args.seed, constructs=constructs)).source)
        return 0
    logging.getLogger("bnlint").setLevel(logging.ERROR)  # verification warnings are problems

    def progress(campaign: Campaign) -> None:
        print(
            f"\r{campaign.programs} programs, {len(campaign.failures)} failing",
            end="",
            file=sys.stderr,
            flush=True,
        )

    campaign = run_campaign(
        range(args.seed, args.seed + args.count),
        batch=args.batch,
        progress=progress,
        constructs=constructs,
    )
    print(file=sys.stderr)
    print(campaign.summary())
    shown: set[str] = set()
    for outcome in campaign.failures:
        kind = outcome.problems[0].kind
        if kind in shown:
            print(f"seed {outcome.program.seed}: {outcome.problems[0]}")
            continue
        shown.add(kind)
        print()
        print(reproducer(outcome, minimise=not args.no_shrink))
    return 1 if campaign.failures else 0


if __name__ == "__main__":
    sys.exit(main())
