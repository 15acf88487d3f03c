"""What the brief says about how the segments split as k grows (analysis.k_tree): the chart,
a sentence per step, a table of every level's segments, and the runner-up k in words."""

from __future__ import annotations

from dataclasses import dataclass

from reportgen import fmt
from reportgen.analysis.choose_k import KChoice
from reportgen.analysis.k_tree import KTree, Level
from reportgen.report.images import data_uri

SPLIT_PART = 0.2  # a segment splits when two of its moves each carry this share of it


@dataclass(frozen=True)
class LevelRow:
    title: str  # "k = 3 (runner-up)"
    segments: str  # "Premium-savers 52 % · Agent-seekers 30 % · …"
    chosen: bool


@dataclass(frozen=True)
class KTreeView:
    chart: str  # data: URI of the PNG
    alt: str  # the chart in words, for screen readers
    steps: tuple[str, ...]  # one sentence per step down the tree
    levels: tuple[LevelRow, ...]
    sample_note: str  # how many rows the levels were fitted and counted on


def segments_text(level: Level) -> str:
    return " · ".join(
        f"{name} {fmt.percent(share)}"
        for name, share in zip(level.names, level.shares, strict=True)
    )


def k_tree_view(
    tree: KTree | None, png: bytes | None, kchoice: KChoice, units: str
) -> KTreeView | None:
    if tree is None or png is None:
        return None
    steps = tuple(split_sentences(tree))
    first, last = tree.levels[0].k, tree.levels[-1].k
    levels = [*tree.levels, *([tree.extra] if tree.extra is not None else [])]
    return KTreeView(
        chart=data_uri(png),
        alt=f"Tree of segments from k = {first} to k = {last}. " + " ".join(steps),
        steps=steps,
        levels=tuple(
            LevelRow(level_title(lv, kchoice.runner_up), segments_text(lv), lv.chosen)
            for lv in levels
        ),
        sample_note=_sample_note(tree, units),
    )


def _sample_note(tree: KTree, units: str) -> str:
    fitted = f"Each k was fitted on {tree.rows_fitted:,} {units}"
    counted = f"; shares and moves count {tree.rows_counted:,} {units}"
    return fitted + counted + " (a random sample where the table is larger)."


def runner_up_segments(tree: KTree | None, kchoice: KChoice) -> str:
    """'High monthly charges 27 % · Low-activity customers 24 % · …' for the runner-up k."""
    if tree is None or kchoice.runner_up is None:
        return ""
    level = tree.level(kchoice.runner_up)
    return segments_text(level) if level is not None else ""


def level_title(level: Level, runner_up: int | None) -> str:
    note = " (chosen)" if level.chosen else " (runner-up)" if level.k == runner_up else ""
    return f"k = {level.k}{note}"


def split_sentences(tree: KTree) -> list[str]:
    """Each step down the tree in words: which segment splits and where its customers go
    ("From k = 2 to 3, Agent-seekers (47 %) splits: 30 % of the total go to …, 17 % to …"),
    for the caption and the chart's alt text."""
    out = []
    for upper, lower in zip(tree.levels, tree.levels[1:], strict=False):
        moves = [f for f in tree.flows if f.k == upper.k]
        splits = []
        for src, share in enumerate(upper.shares):
            parts = [f for f in moves if f.source == src and f.share >= SPLIT_PART * share]
            if len(parts) > 1:
                splits.append((share, src, sorted(parts, key=lambda f: -f.share)))
        if not splits:
            out.append(f"From k = {upper.k} to {lower.k} the segments are regrouped.")
            continue
        share, src, parts = max(splits)
        # The moves, not the lower segments' sizes: those are under the circles, and a lower
        # segment may also take customers from elsewhere (38 % there, 36 % moving here).
        first, *rest = parts
        into = f"{fmt.percent(first.share)} of the total go to {lower.names[first.target]}"
        into += "".join(f", {fmt.percent(f.share)} to {lower.names[f.target]}" for f in rest)
        out.append(
            f"From k = {upper.k} to {lower.k}, {upper.names[src]} ({fmt.percent(share)}) "
            f"splits: {into}."
        )
    return out
