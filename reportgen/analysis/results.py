"""The results of the analysis stages, bundled as plain data for the stages that present them
(charts, report, deliver) and for the Python API."""

from __future__ import annotations

from dataclasses import dataclass

from reportgen.analysis.assign import LeftOutAssignment
from reportgen.analysis.choose_k import KChoice
from reportgen.analysis.cluster import Segmentation
from reportgen.analysis.k_tree import KTree
from reportgen.analysis.naming import SegmentStory
from reportgen.analysis.prepare import PreparedData
from reportgen.analysis.profile import Profiles
from reportgen.analysis.screen import Screening
from reportgen.analysis.stability import Evaluation
from reportgen.analysis.value import RFMMigration, ValueAnalysis
from reportgen.io.customers import CustomerRows
from reportgen.io.dictionary import DataDictionary
from reportgen.io.load import LoadedTable


@dataclass(frozen=True)
class Analysis:
    table: LoadedTable
    dictionary: DataDictionary
    prepared: PreparedData
    k_choice: KChoice
    segmentation: Segmentation
    evaluation: Evaluation
    profiles: Profiles
    stories: tuple[SegmentStory, ...]
    screening: Screening | None = None
    intake: CustomerRows | None = None  # how the input became one row per customer
    value: ValueAnalysis | None = None  # RFM and predicted value, for order logs
    rfm_moves: RFMMigration | None = None  # order logs re-reported: moves between RFM groups
    rest: LeftOutAssignment | None = None  # rows left out of the fit: assigned on partial data?
    k_tree: KTree | None = None  # how the segments split as k grows (2 … chosen k + 1)
