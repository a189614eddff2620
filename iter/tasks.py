"""The scored tasks and how they are labelled: the one place to add or rename a metric.

ner: entities (boundaries and type); re: relations with entity boundaries (types ignored);
re_plus: relations with entity boundaries and types (strict). Each is scored micro and macro.
"""

from __future__ import annotations

TASKS = ("ner", "re", "re_plus")
AVERAGES = ("micro", "macro")
# Short labels for tables, plots and model cards; long ones for the evaluation report.
TASK_LABELS = {"ner": "NER", "re": "RE", "re_plus": "RE+"}
TASK_TITLES = {"ner": "NER", "re": "RE (boundaries)", "re_plus": "RE+ (strict)"}


def tasks_of(has_relations: bool) -> tuple[str, ...]:
    """The tasks a dataset has: entity-only corpora have no relations to score or show."""
    return TASKS if has_relations else ("ner",)
