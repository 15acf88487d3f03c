"""`reportgen init`: a starter data dictionary for a table, written from what reportgen infers.

Every column is listed with the role, type and label the brief would use without a dictionary,
and the reason (`why:`), so the file read back unchanged gives the same segments, numbers
and names. What only a person can know (a rating's real scale, the words for high and low
values, marketing angles) is written as commented examples to fill in.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from reportgen.io.dictionary import ColumnSpec, DataDictionary


def _q(text: str) -> str:
    """A YAML scalar that reads back as exactly `text` (JSON strings are YAML strings)."""
    return json.dumps(text, ensure_ascii=False)


def starter_dictionary(dictionary: DataDictionary, source: str) -> str:
    """YAML text of a data dictionary for the table that `dictionary` was inferred from."""
    lines = [
        f"# Data dictionary for {source}, written by `reportgen init` from what reportgen",
        "# inferred. Unchanged, it gives the same brief as no dictionary; edit it to name things",
        "# your way: labels, the words for high and low values (they name the segments), marketing",
        "# angles, and the real scale of ratings. Columns left out of this file are not used.",
        "# Use it with: reportgen brief DATA --dictionary THIS_FILE",
        "# title: Customer segments — what they value",
        f"unit: {_q(dictionary.unit)}",
        f"units: {_q(dictionary.units)}",
    ]
    if dictionary.id_column:
        lines.append(f"id_column: {_q(dictionary.id_column)}")
    lines.append("columns:")
    for spec in dictionary.columns:
        lines.extend(_column(spec))
    return "\n".join(lines) + "\n"


def _column(spec: ColumnSpec) -> list[str]:
    # The inferred reason is kept as `why:`, so the appendix of a brief built with the file
    # unchanged gives the same reasons as the brief built without it; edit it with the role.
    out = [f"  {_q(spec.name)}:", f"    why: {_q(spec.reason)}" if spec.reason else ""]
    out += [f"    role: {spec.role}", f"    type: {spec.type}", f"    label: {_q(spec.label)}"]
    if spec.unit:
        out.append(f"    unit: {_q(spec.unit)}")
    if spec.type == "ordinal":
        out.append("    # scale: {min: 1, max: 7, low: not important, high: very important}")
    if spec.role == "segment" and spec.type in ("numeric", "ordinal"):
        label = spec.label.lower()
        out += [
            "    # high:",
            f"    #   name: High {label}          # the segment's name when it is high",
            f"    #   words: have a high {label}  # used in sentences: 'they ...'",
            "    #   angle: What to offer them.",
            "    # low:",
            f"    #   name: Low {label}",
            f"    #   words: have a low {label}",
            "    #   angle: What to offer them.",
        ]
    return [line for line in out if line]


def starter_for_log(mapping: dict[str, Any], source: str) -> str:
    """YAML text of the dictionary of the customer features made from an order log: the
    packaged words, ready to be changed (the log's own columns need no dictionary)."""
    header = [
        f"# Data dictionary for the customers of the order log {source}, written by",
        "# `reportgen init`. reportgen turns the log into one row per customer with these",
        "# features; unchanged, this file gives the same brief as no dictionary. Change the",
        "# labels, the words that name segments and the marketing angles to your own.",
        "# Use it with: reportgen brief LOG --dictionary THIS_FILE",
    ]
    body = yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True, width=96)
    return "\n".join(header) + "\n" + body
