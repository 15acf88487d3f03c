"""The results of the analysis stages, bundled as plain data for the stages that present them
(charts, report, deliver) and for the Python API."""

from __future__ import annotations

from dataclasses import dataclass

from .choose_k import KChoice
from .cluster import Segmentation
from .dictionary import DataDictionary
from .load import LoadedTable
from .naming import SegmentStory
from .prepare import PreparedData
from .profile import Profiles
from .screen import Screening
from .stability import Evaluation


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
