"""Does the sample-based choice of k agree with the full-data choice? (issue 6)

    python benchmarks/k_agreement.py --rows 60000

For each table of the synthetic suite (tests/synthetic.py: SUITE_KS, planted k known), prepare it
as the brief does and run `choose_k` twice: as shipped (candidate fits on a FIT_SAMPLE-row sample)
and with the sample size raised to every row. Prints both choices and the planted k.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reportgen.analysis import choose_k as ck  # noqa: E402
from reportgen.analysis.prepare import prepare  # noqa: E402
from reportgen.io.dictionary import dictionary_from_mapping, resolve_dictionary  # noqa: E402
from tests.synthetic import DICTIONARY, SUITE_KS, make_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    args = parser.parse_args()
    shipped = ck.FIT_SAMPLE
    agree = 0
    print(f"{'table':>5} {'planted':>7} {'sample k':>8} {'full k':>6}  seconds (sample | full)")
    for i, k in enumerate(SUITE_KS):
        frame, _ = make_table(k, seed=100 + i, n=args.rows)
        dictionary = resolve_dictionary(frame, dictionary_from_mapping(DICTIONARY))
        x = prepare(frame, dictionary).scaled
        out = []
        for size in (shipped, len(x)):
            ck.FIT_SAMPLE = size
            t = time.perf_counter()
            out.append((ck.choose_k(x, k=None, k_max=10, seed=42).k, time.perf_counter() - t))
        ck.FIT_SAMPLE = shipped
        agree += out[0][0] == out[1][0]
        print(
            f"{i:>5} {k:>7} {out[0][0]:>8} {out[1][0]:>6}  {out[0][1]:.1f} | {out[1][1]:.1f}",
            flush=True,
        )
    print(
        f"sample choice = full-data choice on {agree} of {len(SUITE_KS)} tables "
        f"({args.rows:,} rows each, sample {shipped:,})"
    )


if __name__ == "__main__":
    main()
