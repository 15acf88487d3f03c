"""Stage 6 — name: a business name, a one-line difference, sentences and an angle per segment.

Pure: takes `Profiles` and the data dictionary, returns one `SegmentStory` per segment.

Naming rule (stated in the brief's appendix): a segment is named after what it rates or spends
*more* than the average customer, when it stands out on something (+0.5 SD or more) and the data
dictionary has a name for that; otherwise after its largest difference in either direction.
Without dictionary names, the name is built from the two most distinguishing features in words
("High fresh · low grocery"). A categorical segmentation feature counts through its most
over-represented category ("Contract: Month-to-month"), its effect size Cohen's h for the two
shares, which reads on the same scale as d (0.2 small, 0.5 medium, 0.8 large). Names are made
unique; a segment is never called "Cluster 0".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from reportgen import fmt
from reportgen.analysis.profile import (
    BLANK,
    OTHER,
    DescribeField,
    FeatureStat,
    Profiles,
    SegmentProfile,
)
from reportgen.io.dictionary import DataDictionary

STANDS_OUT = 0.5  # effect size (Cohen's d vs the other customers) that earns a "high" name
NOTABLE = 0.3  # smallest effect size worth a sentence
CATEGORY_MAJORITY = 0.5  # share of a segment a category needs before it describes the segment
MAX_NAME = 40  # characters: a name that fits a table column and a marketer's sentence
NAMING_RULE = (
    "A segment is named after what it values or does more than the other customers (an effect "
    f"size, Cohen's d, of at least {STANDS_OUT:g}) using the data dictionary's words; failing "
    "that, after what it has or does more than the others in the data's own words (a segment "
    "below the others on every feature is named so), else its most distinguishing feature. "
    f"Names are at most {MAX_NAME} characters and unique. Features are ranked by "
    "effect size; a category counts through its most over-represented value, with Cohen's h for "
    "its share as the effect size."
)


@dataclass(frozen=True)
class Trait:
    column: str
    label: str
    direction: str  # "high" or "low"
    phrase: str  # "want a local agent nearby" / "high fresh"
    segment_value: str  # formatted in the column's units
    overall_value: str
    effect: float  # Cohen's d against the other customers (Cohen's h for a category's share)
    category: str | None = None  # the over-represented value of a categorical feature


# A segment on its way to a name: its profile, its traits (the naming one first) and a first name.
Draft = tuple[SegmentProfile, tuple[Trait, ...], str]


@dataclass(frozen=True)
class SegmentStory:
    segment_id: int
    name: str
    slug: str
    headline: str  # one line: what sets it apart
    sentences: tuple[str, ...]
    angle: str
    angle_from_dictionary: bool
    traits: tuple[Trait, ...]


def name_segments(
    profiles: Profiles, dictionary: DataDictionary, keep_names: dict[int, str] | None = None
) -> tuple[SegmentStory, ...]:
    """One story per segment. `keep_names` (segment id -> name) carries names over from a
    previous run; the other segments get new names that differ from the kept ones."""
    drafts: list[Draft] = []
    for seg in profiles.segments:
        traits = _traits(seg, dictionary)
        name, lead = _base_name(seg, traits, dictionary)
        # The trait that gave the name leads the headline and the sentences.
        if lead is not None:
            others = (t for t in traits if (t.column, t.category) != (lead.column, lead.category))
            traits = ((lead,) + tuple(others))[:3]
        drafts.append((seg, traits, name))
    names = _unique_names([(seg, traits, name) for seg, traits, name in drafts], dictionary)
    if keep_names:
        names = _carry_names(drafts, names, keep_names)
    stories = []
    slugs: set[str] = set()
    for (seg, traits, _), name in zip(drafts, names, strict=True):
        slug = fmt.slug(name)
        while slug in slugs:
            slug = f"{slug}-{seg.segment_id}"
        slugs.add(slug)
        angle, from_dict = _angle(traits, dictionary)
        stories.append(
            SegmentStory(
                segment_id=seg.segment_id,
                name=name,
                slug=slug,
                headline=_headline(traits),
                sentences=_sentences(seg, name, traits, profiles.n, dictionary),
                angle=angle,
                angle_from_dictionary=from_dict,
                traits=traits,
            )
        )
    return tuple(stories)


def _traits(seg: SegmentProfile, dictionary: DataDictionary) -> tuple[Trait, ...]:
    candidates = [_trait(f, dictionary) for f in seg.ranked()]
    candidates += [t for field in seg.categories if (t := _category_trait(seg, field))]
    candidates.sort(key=lambda t: (-abs(t.effect), t.column))
    out: list[Trait] = []
    for t in candidates:
        if abs(t.effect) < NOTABLE and out:
            break
        out.append(t)
    return tuple(out[:3])


def _category_trait(seg: SegmentProfile, field: DescribeField) -> Trait | None:
    """The category most over-represented in the segment against the other customers, with
    Cohen's h (2·asin√p₁ − 2·asin√p₀) as its effect size. Only a category most of the segment
    has describes it: 7 % against 2 % is over-represented, but calling that segment
    'Region: East' would misname the other 93 %. A blank counts ('no channel given'); the
    'Other' bucket of rare categories does not."""
    if seg.share >= 1:
        return None
    best = None
    for s in field.shares:
        if s.value == OTHER or s.segment_share < CATEGORY_MAJORITY:
            continue
        rest = (s.overall_share - seg.share * s.segment_share) / (1 - seg.share)
        rest = min(max(rest, 0.0), 1.0)
        h = 2 * math.asin(math.sqrt(s.segment_share)) - 2 * math.asin(math.sqrt(rest))
        if h > 0 and (best is None or h > best[1]):
            best = (s, h)
    if best is None:
        return None
    s, h = best
    return Trait(
        column=field.column,
        label=field.label,
        direction="high",
        phrase=(
            f"no {fmt.lower_first(field.label)} given"
            if s.value == BLANK
            else f"{fmt.lower_first(field.label)}: {s.value}"
        ),
        segment_value=fmt.percent(s.segment_share),
        overall_value=fmt.percent(s.overall_share),
        effect=h,
        category=s.value,
    )


def _trait(f: FeatureStat, dictionary: DataDictionary) -> Trait:
    spec = dictionary.column(f.column)
    direction = "high" if f.d >= 0 else "low"
    words = (spec.high if direction == "high" else spec.low).words
    phrase = words or f"{direction} {fmt.lower_first(spec.label)}"
    return Trait(
        column=f.column,
        label=spec.label,
        direction=direction,
        phrase=phrase,
        segment_value=fmt.value(spec, f.segment_mean),
        overall_value=fmt.value(spec, f.overall_mean),
        effect=f.d,
    )


def _dict_name(trait: Trait, dictionary: DataDictionary) -> str | None:
    if trait.category is not None:
        return None
    spec = dictionary.column(trait.column)
    return (spec.high if trait.direction == "high" else spec.low).name


def _base_name(
    seg: SegmentProfile, traits: tuple[Trait, ...], dictionary: DataDictionary
) -> tuple[str, Trait | None]:
    """The segment's name and the trait it was named after (None for a words-built name)."""
    if not traits or abs(traits[0].effect) < NOTABLE:
        return "Close to average", None
    standouts = sorted((t for t in traits if t.effect >= STANDS_OUT), key=lambda t: -t.effect)
    for t in standouts + list(traits):
        if abs(t.effect) >= NOTABLE and (name := _dict_name(t, dictionary)):
            return name, t
    return _words_name(seg, traits, dictionary)


def _words_name(
    seg: SegmentProfile, traits: tuple[Trait, ...], dictionary: DataDictionary
) -> tuple[str, Trait | None]:
    """A name from the data's own words: what the segment has or does more than the others
    first (never "low X · low Y" beside its mirror "high X · high Y"); a segment below the
    others on every feature says so; at most MAX_NAME characters."""
    # What it has more of, from every feature (not only its three strongest traits, which may
    # all be lows beside a segment that is their mirror image).
    more = [_trait(f, dictionary) for f in seg.ranked() if f.d >= NOTABLE]
    highs = sorted(
        more + [t for t in traits if t.category is not None and t.effect >= NOTABLE],
        key=lambda t: (-t.effect, t.column),
    )
    if not highs and len(seg.features) >= 2 and all(f.d < 0 for f in seg.features):
        amounts = all(dictionary.column(f.column).type == "numeric" for f in seg.features)
        low = f"Low-activity {dictionary.units}" if amounts else "Below average on every feature"
        return low, None
    chosen = highs[:2] if highs else list(traits[:1])
    text = " · ".join(_plain_name(t) for t in chosen)
    if len(text) > MAX_NAME and len(chosen) > 1:
        text = _plain_name(chosen[0])
    # The trait that gave the name leads the headline and the sentences.
    return _shorten(text[:1].upper() + text[1:]), chosen[0] if chosen else None


def _shorten(name: str) -> str:
    if len(name) <= MAX_NAME:
        return name
    cut = name[: MAX_NAME - 1].rsplit(" ", 1)[0]
    return cut + "…"


def _plain_name(t: Trait) -> str:
    """'high fresh', or 'contract: Month-to-month' for a category."""
    if t.category is not None:
        return t.phrase
    return f"{t.direction} {fmt.lower_first(name_label(t.label))}"


_NAME_LEADS = re.compile(r"^(average|avg\.?|mean|total|number of|count of)\s+", re.IGNORECASE)
_NAME_TAILS = re.compile(
    r"\s+(\([^()]*\)|per (day|week|month|quarter|year)"
    r"|(in the )?last (\d+ )?(day|week|month|quarter|year)s?|count)$",
    re.IGNORECASE,
)


def name_label(label: str) -> str:
    """A label as it goes into a name, which the headline beside it spells out in full: no unit
    or scale in brackets, no leading 'average'/'total'/'number of', no trailing 'per month':
    'Average basket value (EUR)' -> 'basket value'. The full label when little would be left."""
    short = label
    for _ in range(3):
        short = _NAME_TAILS.sub("", short).strip()
        rest = _NAME_LEADS.sub("", short)
        short = rest if len(rest.split()) >= 2 else short  # "Total charges" stays whole
    return short if len(short) >= 3 else label


def _unique_names(drafts: list[Draft], dictionary: DataDictionary) -> list[str]:
    names = [name for _, _, name in drafts]
    for _ in range(2):
        dupes = {n for n in names if names.count(n) > 1}
        if not dupes:
            break
        for i, (_seg, traits, _) in enumerate(drafts):
            if names[i] not in dupes:
                continue
            # Add the next trait that is not already the name, in dictionary or plain words.
            for t in traits:
                extra = _dict_name(t, dictionary) or _plain_name(t)
                longer = f"{names[i]} · {fmt.lower_first(extra)}"
                if extra.lower() not in names[i].lower() and len(longer) <= MAX_NAME:
                    names[i] = longer
                    break
    # Still the same name ("Low spend" four times on one feature): tell them apart by their
    # average, "Low spend (avg 3.5)", or failing that by number.
    out = list(names)
    for name in {n for n in names if names.count(n) > 1}:
        members = [i for i, n in enumerate(names) if n == name]
        suffixes = _value_suffixes([drafts[i][1] for i in members])
        if suffixes is None:
            suffixes = [str(j) for j in range(1, len(members) + 1)]
        for i, suffix in zip(members, suffixes, strict=True):
            out[i] = _suffixed(name, suffix)
    for name in {n for n in out if out.count(n) > 1}:  # two groups cut down to one base
        members = [i for i, n in enumerate(out) if n == name]
        for j, i in enumerate(members[1:], start=2):
            out[i] = _suffixed(name, str(j))
    return out


def _suffixed(name: str, suffix: str) -> str:
    """'High spend (avg 3.5)' within MAX_NAME. A bare 'avg' is the lead trait's, so the name
    keeps only that trait ('High total charges · high tenure (avg 6,446)' would leave it open
    which one); a base still too long is cut. The members share `name`, so the suffixes alone
    keep them apart."""
    base = name.split(" · ")[0] if suffix.startswith("avg ") else name
    room = MAX_NAME - len(suffix) - 3
    if len(base) > room:
        base = base[: max(room - 1, 1)].rsplit(" ", 1)[0] + "…"
    return f"{base} ({suffix})"


def _value_suffixes(group: list[tuple[Trait, ...]]) -> list[str] | None:
    """'avg 3.5', 'avg 13.3', ... from the first numeric trait all the segments share and whose
    averages differ when printed; None when there is none."""
    for t in group[0]:
        if t.category is not None:
            continue
        values = []
        for traits in group:
            match = next((u for u in traits if u.column == t.column and u.category is None), None)
            if match is None:
                break
            values.append(match.segment_value)
        if len(values) == len(group) and len(set(values)) == len(values):
            lead = all(traits and traits[0].column == t.column for traits in group)
            what = "avg" if lead else f"{fmt.lower_first(t.label)} avg"
            return [f"{what} {v}" for v in values]
    return None


def _carry_names(drafts: list[Draft], names: list[str], keep: dict[int, str]) -> list[str]:
    """Kept names win; a new segment whose name is already taken is marked as new."""
    out = [keep.get(seg.segment_id, name) for (seg, _, _), name in zip(drafts, names, strict=True)]
    taken = {n.lower() for n in keep.values()}
    for i, ((seg, _, _), name) in enumerate(zip(drafts, out, strict=True)):
        if seg.segment_id in keep:
            continue
        candidate, n = name, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{name} (new)" if n == 2 else f"{name} (new {n - 1})"
        out[i] = candidate
        taken.add(candidate.lower())
    return out


def _headline(traits: tuple[Trait, ...]) -> str:
    parts = [
        f"{t.phrase} ({t.segment_value} vs {t.overall_value} on average)"
        for t in traits[:2]
        if abs(t.effect) >= NOTABLE
    ]
    if not parts:
        return "close to the average customer on every feature"
    return " and ".join(parts)


def _sentences(
    seg: SegmentProfile, name: str, traits: tuple[Trait, ...], n: int, dictionary: DataDictionary
) -> tuple[str, ...]:
    units = dictionary.units
    out = [f"{name} are {fmt.percent(seg.share)} of {units} ({seg.size:,} of {n:,})."]
    for t in traits:
        if abs(t.effect) < NOTABLE:
            continue
        spec = dictionary.column(t.column)
        if t.category is not None:
            what = (
                f"no {fmt.lower_first(t.label)} given"
                if t.category == BLANK
                else f"{fmt.lower_first(t.label)} “{t.category}”"
            )
            out.append(
                f"{t.segment_value} of them have {what}, against {t.overall_value} of all {units}."
            )
            if len(out) >= 3:
                break
            continue
        if spec.type == "ordinal" and spec.is_scale:
            body = (
                f"they rate {fmt.lower_first(t.label)} {t.segment_value} on average, "
                f"against {t.overall_value} for all {units}"
            )
        else:
            body = (
                f"their average {fmt.lower_first(t.label)} is {t.segment_value}, "
                f"against {t.overall_value} for all {units}"
            )
        has_words = bool((spec.high if t.direction == "high" else spec.low).words)
        if has_words:
            out.append(f"They {t.phrase}: {body}.")
        else:
            out.append(f"{body[:1].upper()}{body[1:]} ({fmt.signed_sd(t.effect)}).")
        if len(out) >= 3:
            break
    if len(out) == 1:
        out.append(f"They are close to the average of all {units} on every segmentation feature.")
    extra = _describe_sentence(seg.describe, units)
    if extra:
        out.append(extra)
    return tuple(out[:4])


def _describe_sentence(fields: tuple[DescribeField, ...], units: str) -> str | None:
    """The single most over-represented category among the descriptive fields, if notable."""
    best = None
    for field in fields:
        for s in field.shares:
            notable = s.segment_share >= 0.2 and s.overall_share > 0 and s.lift >= 1.25
            if notable and (best is None or s.lift > best[1].lift):
                best = (field, s)
    if best is None:
        return None
    field, s = best
    return (
        f"{field.label}: {fmt.percent(s.segment_share)} are “{s.value}”, "
        f"against {fmt.percent(s.overall_share)} of all {units}."
    )


def _angle(traits: tuple[Trait, ...], dictionary: DataDictionary) -> tuple[str, bool]:
    ordered = sorted(traits, key=lambda t: -t.effect) if traits else []
    for t in ordered + list(traits):
        if abs(t.effect) < NOTABLE or t.category is not None:
            continue
        spec = dictionary.column(t.column)
        angle = (spec.high if t.direction == "high" else spec.low).angle
        if angle:
            return angle, True
    if not traits or abs(traits[0].effect) < NOTABLE:
        return (
            "A mainstream group: use the standard offer and message; test what moves them.",
            False,
        )
    lead = traits[0]
    return (
        f"Lead with what sets them apart: {lead.phrase} "
        f"({lead.segment_value} against {lead.overall_value}).",
        False,
    )
