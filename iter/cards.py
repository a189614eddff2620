"""The model card (README.md) that every saved checkpoint carries: its values and sections,
and rendering them into the template.

The template is the project's spec (``iter/templates/model_card.md``); its ``{placeholders}``
are filled by name. Some names contain dots (``{torch.version}``), so this is plain
replacement rather than ``str.format``, and an unfilled placeholder is an error rather than
a card with holes in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING

from iter.tasks import TASK_LABELS, TASKS

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from iter.data.registry import DatasetSpec
    from iter.modeling.model import ITERForRelationExtraction

TEMPLATE = "model_card.md"
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")

# The template reads `@inproceedings{citation}`: the placeholder stands for the braces too.
CITATION = """{hennen-etal-2024-iter,
    title = "{ITER}: Iterative Transformer-based Entity Recognition and Relation Extraction",
    author = "Hennen, Moritz and Babl, Florian and Geierhos, Michaela",
    booktitle = "Findings of the Association for Computational Linguistics: EMNLP 2024",
    year = "2024",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2024.findings-emnlp.655",
}"""


def template_text() -> str:
    return resources.files("iter").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")


def render_card(values: Mapping[str, object], extra_sections: str = "") -> str:
    """Fill every placeholder of the template; ``extra_sections`` is appended as Markdown."""
    values = {"citation": CITATION, **{k: str(v) for k, v in values.items()}}
    text = template_text()
    missing = sorted({m for m in PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise KeyError(f"model card values missing for placeholders: {missing}")
    # The citation itself contains braces; substitute in one pass so they are not re-read.
    text = PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    if extra_sections:
        text = text.rstrip("\n") + "\n\n" + extra_sections.strip("\n") + "\n"
    return text


def card_values(
    cfg: DictConfig, spec: DatasetSpec, model: ITERForRelationExtraction, f1: float, env: Mapping
) -> dict[str, object]:
    """The template's placeholders for a model trained by ``cfg`` on ``spec``."""
    from iter.modeling.encoder import public_encoder_name

    precision = cfg.trainer.precision
    return {
        "base_model_name": public_encoder_name(cfg.model.transformer),
        "dataset": spec.name,
        "model_name": cfg.model.name,
        "f1": f"{100 * f1:.2f}",
        "model_class": type(model).__name__,
        "seed": cfg.seed,
        "config": spec.name,
        "torch.version": env["torch"],
        "torch.cuda": env["cuda"],
        "torch.precision": precision,
        "gpu": env["gpu"] or f"CPU ({env['torch_threads']} threads)",
        "precision_command": {"bf16": " --use_bfloat16", "fp16": " trainer.precision=fp16"}.get(
            precision, ""
        ),
    }


def card_details(
    command: str, env: Mapping, dev: Mapping | None, test: Mapping | None, best_epoch: int
) -> str:
    """The section on this run: its command, checkpoint epoch, versions and scores."""
    lines = ["### This run", "", "Exact command:", "", "```shell", command, "```", ""]
    lines.append(
        f"Checkpoint from epoch {best_epoch}; git commit `{env['git_commit']}`"
        f"{' (uncommitted changes)' if env['git_dirty'] else ''}; "
        f"transformers {env['transformers']}, Python {env['python']}."
    )
    for title, scores in (("dev", dev), ("test", test)):
        if scores:
            lines += ["", f"| {title} | P | R | F1 |", "|---|---|---|---|"]
            for task in TASKS:
                micro = scores[task]["micro"]
                lines.append(
                    f"| {TASK_LABELS[task]} (micro) | {100 * micro['precision']:.2f} | "
                    f"{100 * micro['recall']:.2f} | {100 * micro['f1']:.2f} |"
                )
    return "\n".join(lines)
