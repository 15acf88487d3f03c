"""Generate the bundled example: a synthetic insurance customer survey (150 respondents).

The data is synthetic. It imitates the classic segmentation tutorial in which an insurer asks its
customers two 1-7 Likert questions: how important is saving on the premium, and how important is a
local agent nearby. Two groups are planted: customers who want a low premium and do not care about
an agent, and customers who want an agent close by and care less about price. Age band, region and
policy type lean with the group, as they would in real life, but are not used for clustering.

Two respondents skipped a question, so the brief has real dropped rows to explain.

Run:  python data/make_insurance_survey.py   (writes data/insurance_survey.csv next to this file)
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SEED = 20240611
N_PRICE, N_AGENT = 79, 71


def _likert(rng: np.random.Generator, mean: float, sd: float, n: int) -> np.ndarray:
    return np.clip(np.rint(rng.normal(mean, sd, n)), 1, 7).astype(int)


def make_rows(seed: int = SEED) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    groups = [
        # premium weight, agent weight, age-band probs, region probs, policy probs
        (N_PRICE, (6.0, 0.85), (2.4, 1.0), (0.50, 0.35, 0.15), (0.6, 0.3, 0.1), (0.6, 0.15, 0.25)),
        (N_AGENT, (3.0, 1.0), (6.0, 0.8), (0.15, 0.40, 0.45), (0.25, 0.35, 0.4), (0.2, 0.3, 0.5)),
    ]
    rows: list[dict[str, object]] = []
    for n, prem, agent, age_p, region_p, policy_p in groups:
        premium = _likert(rng, *prem, n)
        agent_v = _likert(rng, *agent, n)
        ages = rng.choice(["18-34", "35-54", "55+"], size=n, p=age_p)
        regions = rng.choice(["City", "Suburb", "Countryside"], size=n, p=region_p)
        policies = rng.choice(["Car", "Home", "Car + Home"], size=n, p=policy_p)
        for i in range(n):
            rows.append(
                {
                    "premium_importance": int(premium[i]),
                    "agent_importance": int(agent_v[i]),
                    "age_band": str(ages[i]),
                    "region": str(regions[i]),
                    "policy_type": str(policies[i]),
                }
            )
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    for i, row in enumerate(rows, start=1):
        row["respondent_id"] = f"R{i:03d}"
    # Two respondents skipped a question: real surveys have blanks.
    rows[40]["agent_importance"] = ""
    rows[117]["premium_importance"] = ""
    return rows


def main() -> None:
    out = Path(__file__).with_name("insurance_survey.csv")
    fields = [
        "respondent_id",
        "premium_importance",
        "agent_importance",
        "age_band",
        "region",
        "policy_type",
    ]
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(make_rows())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
