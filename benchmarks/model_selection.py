"""The fixed cost of model selection: choose_k + stability alone, before and after (issue 20
item 2).

    python benchmarks/model_selection.py                     # 20k and 100k rows, 5 repeats
    python benchmarks/model_selection.py --rows 20000 --repeats 3

"Before" is `choose_k.py` and `stability.py` at commit BEFORE (loaded from git under other
names), "after" the working tree's; both run in this process on the same prepared synthetic
table (tests/synthetic.py, planted k = 5, with the brief's screening), alternately, and the
medians and their ratio are printed. The results are compared too: the chosen k, the runner-up,
the votes, every index of the evidence and every segment's stability must be the same (the
largest relative difference of the numbers is printed; float sums taken in another order may
differ in the last bits).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from reportgen.analysis import choose_k as after_choose  # noqa: E402
from reportgen.analysis import stability as after_stability  # noqa: E402
from reportgen.analysis.cluster import cluster  # noqa: E402
from reportgen.analysis.prepare import prepare  # noqa: E402
from reportgen.analysis.screen import screen_features  # noqa: E402
from reportgen.io.dictionary import dictionary_from_mapping, resolve_dictionary  # noqa: E402
from tests.synthetic import DICTIONARY, make_table  # noqa: E402

BEFORE = "93940d3"  # the vote of issue 15, before the fixed-cost work


def load_before(name: str) -> ModuleType:
    text = subprocess.run(
        ["git", "show", f"{BEFORE}:reportgen/analysis/{name}.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / f"{name}_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"{name}_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def matrix(rows: int) -> np.ndarray:
    frame, _ = make_table(5, seed=7, n=rows)
    dictionary = resolve_dictionary(frame, dictionary_from_mapping(DICTIONARY))
    prepared = prepare(frame, dictionary)
    noise = screen_features(prepared, seed=42).removed
    columns = tuple(
        replace(c, role="describe") if c.name in noise else c for c in dictionary.columns
    )
    return prepare(frame, replace(dictionary, columns=columns)).scaled


def select(
    choose: ModuleType, stability: ModuleType, x: np.ndarray
) -> tuple[Any, Any, float, float]:
    """choose_k then evaluate on the chosen k's segments, as the pipeline runs them: (choice,
    evaluation, wall seconds, CPU seconds of the process). The segments' fit (cluster) is not
    timed."""
    started, cpu = time.perf_counter(), time.process_time()
    choice = choose.choose_k(x, k=None, k_max=10, seed=42)
    elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
    seg = cluster(x, k=choice.k, seed=42)
    started, cpu = time.perf_counter(), time.process_time()
    evaluation = stability.evaluate(x, seg, seed=42, resamples=20)
    elapsed += time.perf_counter() - started
    return choice, evaluation, elapsed, cpu_used + time.process_time() - cpu


def numbers(value: Any) -> list[float]:
    """Every number in a result, in order (None and text left out)."""
    if isinstance(value, dict):
        return [v for key in sorted(value) for v in numbers(value[key])]
    if isinstance(value, list | tuple):
        return [v for item in value for v in numbers(item)]
    if isinstance(value, bool | str) or value is None:
        return []
    return [float(value)]


def compare(a: tuple[Any, Any], b: tuple[Any, Any]) -> str:
    (ca, ea), (cb, eb) = a, b
    same = (ca.k, ca.runner_up, ca.close, ca.votes) == (cb.k, cb.runner_up, cb.close, cb.votes)
    same = same and [s.verdict for s in ea.stability] == [s.verdict for s in eb.stability]
    na = numbers([asdict(e) for e in ca.evidence]) + numbers(asdict(ea))
    nb = numbers([asdict(e) for e in cb.evidence]) + numbers(asdict(eb))
    if len(na) != len(nb):
        return "DIFFERENT (evidence shape)"
    diff = max(
        (abs(p - q) / max(abs(p), abs(q), 1e-300) for p, q in zip(na, nb, strict=True) if p != q),
        default=0.0,
    )
    verdict = "same choice, votes, verdicts" if same else "DIFFERENT choice or votes"
    return f"{verdict}; largest relative difference of {len(na)} numbers {diff:.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    before = (load_before("choose_k"), load_before("stability"))
    after = (after_choose, after_stability)
    for rows in args.rows:
        x = matrix(rows)
        select(*before, x)  # warm: imports, first BLAS calls
        select(*after, x)
        times: dict[str, list[float]] = {"before": [], "after": []}
        cpus: dict[str, list[float]] = {"before": [], "after": []}
        results = {}
        for _ in range(args.repeats):
            for label, (choose, stab) in (("before", before), ("after", after)):
                choice, evaluation, seconds, cpu = select(choose, stab, x)
                times[label].append(seconds)
                cpus[label].append(cpu)
                results[label] = (choice, evaluation)
        med = {label: statistics.median(t) for label, t in times.items()}
        cpu_med = {label: statistics.median(t) for label, t in cpus.items()}
        print(
            f"{rows:>7,} rows: choose_k + stability before {med['before']:.2f} s, after "
            f"{med['after']:.2f} s, ratio {med['after'] / med['before']:.2f}; CPU "
            f"{cpu_med['before']:.2f} -> {cpu_med['after']:.2f} s, ratio "
            f"{cpu_med['after'] / cpu_med['before']:.2f} (medians of {args.repeats}; "
            f"k = {results['after'][0].k}); " + compare(results["before"], results["after"]),
            flush=True,
        )
        for label, t in times.items():
            print(f"    {label}: " + ", ".join(f"{s:.2f}" for s in t))


if __name__ == "__main__":
    main()
