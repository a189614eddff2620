"""Strict NER / RE / RE+ scores, their text report and the metrics JSON format.

The checkpoint runner (``iter.evaluation.runner``) is not imported here: it needs the model,
and scoring documents should not.
"""

from iter.evaluation.metrics import EvaluationResult, Score, TaskScores, evaluate
from iter.evaluation.report import (
    format_report,
    read_metrics_json,
    result_to_json,
    write_metrics_json,
)

__all__ = [
    "EvaluationResult",
    "Score",
    "TaskScores",
    "evaluate",
    "format_report",
    "read_metrics_json",
    "result_to_json",
    "write_metrics_json",
]
