"""The model card (README.md) that every saved checkpoint carries, in Hugging Face's format:
YAML metadata the hub reads, then prose.

The metadata is built with huggingface_hub's ``ModelCardData`` and ``EvalResult``: library
``iter-ie``, base model, license, tags and a ``model-index`` with the NER / RE / RE+ micro F1
(NER alone for entity-only datasets), so ``ModelCard.load`` gives the scores back as
``card.data.eval_results``. The prose is ``iter/templates/model_card.md``, whose
``{placeholders}`` are filled by name. Some names contain dots (``{torch.version}``), so this
is plain replacement rather than ``str.format``, and an unfilled placeholder is an error
rather than a card with holes in it. When a sweep ends, :func:`card_for_sweep` restates the
card of the run it chose (chosen from N runs, the sweep's test mean ± std), prose only.

The template departs from the spec's (``../shared/spec/model-card-template.md``), which was
written for the authors' published checkpoints: "best of 5 runs", "1 GPU", their repository
as the install line, ``library_name: transformers``. A card written here says only what is
true of its run (the template's opening comment lists what changed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from iter.modeling.hub import LIBRARY_NAME, LICENSE, card_tags, hub_base_model
from iter.tasks import TASK_LABELS, TASKS, tasks_of

if TYPE_CHECKING:
    from huggingface_hub import EvalResult, ModelCardData
    from omegaconf import DictConfig

    from iter.data.registry import DatasetSpec
    from iter.modeling.model import ITERForRelationExtraction

TEMPLATE = "model_card.md"
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")
# The template's opening comment explains the template; it is no part of a card.
TEMPLATE_COMMENT = re.compile(r"\A\s*<!--.*?-->\s*", re.S)
# A run's command that is a call of the package's Python API (``iter.train(...)``); a command
# line starts with its program instead (``iter train``, ``python3 train.py``).
PYTHON_CALL = re.compile(r"iter\.[A-Za-z_]\w*\(")
# Where the usage snippet loads from when the card cannot know the hub id yet.
DEFAULT_MODEL_ID = "path/to/checkpoint-best"
TASK_TYPES = {
    "ner": ("named-entity-recognition", "Named Entity Recognition"),
    "re": ("relation-extraction", "Relation Extraction"),
    "re_plus": ("relation-extraction", "Relation Extraction"),
}

# The template reads `@inproceedings{citation}`: the placeholder stands for the braces too.
CITATION = """{hennen-etal-2024-iter,
    title = "{ITER}: Iterative Transformer-based Entity Recognition and Relation Extraction",
    author = "Hennen, Moritz and Babl, Florian and Geierhos, Michaela",
    booktitle = "Findings of the Association for Computational Linguistics: EMNLP 2024",
    year = "2024",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2024.findings-emnlp.655",
}"""


@dataclass(frozen=True)
class CardValues:
    """What a card states about one checkpoint.

    ``f1`` holds the micro F1 (0..1) of each of ``tasks`` on ``split`` ("test" once the run
    has scored test, "dev" before); ``score`` is the dataset's main score on that split (its
    selection metric and average, named by ``score_name``). ``runs`` is how many training
    runs the checkpoint was chosen from: 1 for a run's own card, N where a sweep picks one
    (the sweep restates the card its run wrote, with :func:`card_for_sweep`).
    """

    dataset: str
    model_name: str
    base_model: str
    model_class: str
    tasks: tuple[str, ...]
    f1: Mapping[str, float]
    split: str
    score: float
    score_name: str
    seed: int
    torch_version: str
    cuda: str
    precision: str
    device: str
    runs: int = 1
    model_id: str = DEFAULT_MODEL_ID

    @property
    def name(self) -> str:
        """The model-index name (as the authors named their hub repositories)."""
        return f"iter-{self.dataset}-{self.model_name}"

    def selection(self) -> str:
        """How the checkpoint was chosen, in one sentence that is true of its runs."""
        return selection_sentence(self.runs, self.score_name)

    def placeholders(self) -> dict[str, str]:
        """The template's placeholders, filled."""
        return {
            "base_model_name": self.base_model,
            "dataset": self.dataset,
            "model_id": self.model_id,
            "f1": f"{100 * self.score:.2f}",
            "score_name": self.score_name,
            "split": self.split,
            "model_class": self.model_class,
            "selection": self.selection(),
            "seed": str(self.seed),
            "config": self.dataset,
            "torch.version": self.torch_version,
            "torch.cuda": self.cuda,
            "torch.precision": self.precision,
            "device": self.device,
            "precision_command": {"bf16": " --use_bfloat16", "fp16": " --use_float16"}.get(
                self.precision, ""
            ),
            "citation": CITATION,
        }


def selection_sentence(runs: int, score_name: str) -> str:
    """How a checkpoint was chosen from ``runs`` training runs, by its dev ``score_name``."""
    epoch = f"the epoch with the best dev {score_name}"
    if runs == 1:
        return f"This checkpoint comes from a single training run: {epoch}."
    return f"This checkpoint was chosen from {runs} training runs: the run and, in it, {epoch}."


def selection_score_name(metric: str, average: str) -> str:
    """The name of a dataset's selection score, e.g. "RE+ micro F1"."""
    return f"{TASK_LABELS[metric]} {average} F1"


def metric_name(task: str, split: str) -> str:
    """The name a score has on the hub, e.g. "RE+ micro F1" (test) or "NER micro F1 (dev)"."""
    return f"{TASK_LABELS[task]} micro F1" + ("" if split == "test" else f" ({split})")


def eval_results(values: CardValues) -> list[EvalResult]:
    """One model-index entry per task: micro F1 in percent on the card's split."""
    from huggingface_hub import EvalResult

    results = []
    for task in values.tasks:
        task_type, task_name = TASK_TYPES[task]
        results.append(
            EvalResult(
                task_type=task_type,
                task_name=task_name,
                dataset_type=values.dataset,
                dataset_name=values.dataset,
                dataset_split=values.split,
                metric_type="f1",
                metric_name=metric_name(task, values.split),
                metric_value=round(100 * values.f1[task], 2),
            )
        )
    return results


def card_metadata(values: CardValues) -> ModelCardData:
    """The card's YAML header; huggingface_hub checks the model-index as it builds it."""
    from huggingface_hub import ModelCardData

    return ModelCardData(
        library_name=LIBRARY_NAME,
        license=LICENSE,
        base_model=hub_base_model(values.base_model),
        tags=card_tags("re_plus" in values.tasks),
        metrics=["f1"],
        model_name=values.name,
        eval_results=eval_results(values),
    )


def template_text() -> str:
    text = resources.files("iter").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")
    return TEMPLATE_COMMENT.sub("", text, count=1)


def render_card(values: CardValues, extra_sections: str = "") -> str:
    """The card: metadata, the filled template, and ``extra_sections`` appended as Markdown.
    It is parsed back with ``ModelCard`` before it is returned, so a card that the hub
    could not read is an error here rather than on upload."""
    from huggingface_hub import ModelCard

    filled = values.placeholders()
    text = template_text()
    missing = sorted({m for m in PLACEHOLDER.findall(text) if m not in filled})
    if missing:
        raise KeyError(f"model card values missing for placeholders: {missing}")
    # The citation itself contains braces; substitute in one pass so they are not re-read.
    text = PLACEHOLDER.sub(lambda m: filled[m.group(1)], text)
    if extra_sections:
        text = text.rstrip("\n") + "\n\n" + extra_sections.strip("\n") + "\n"
    return str(ModelCard(f"---\n{card_metadata(values).to_yaml()}\n---\n\n{text}"))


def device_line(env: Mapping) -> str:
    """The device a run trained on: the GPU's name, or the CPU and its threads."""
    processes = int(env.get("world_size") or 1)
    if env.get("gpu"):
        return env["gpu"] if processes == 1 else f"{processes} × {env['gpu']}"
    threads = f"{env['torch_threads']} thread" + ("" if env["torch_threads"] == 1 else "s")
    return f"CPU ({threads})" if processes == 1 else f"CPU ({processes} processes, {threads} each)"


def card_values(
    cfg: DictConfig,
    spec: DatasetSpec,
    model: ITERForRelationExtraction,
    scores: Mapping,
    split: str,
    env: Mapping,
    runs: int = 1,
    model_id: str = DEFAULT_MODEL_ID,
) -> CardValues:
    """What the card of a model trained by ``cfg`` on ``spec`` states; ``scores`` is an
    :meth:`~iter.evaluation.metrics.EvaluationResult.to_dict` on ``split``."""
    from iter.modeling.encoder import public_encoder_name

    tasks = tasks_of(bool(spec.relation_types))
    main, average = spec.selection_metric, spec.metric_average
    return CardValues(
        dataset=spec.name,
        model_name=cfg.model.name,
        base_model=public_encoder_name(cfg.model.transformer),
        model_class=type(model).__name__,
        tasks=tasks,
        f1={task: float(scores[task]["micro"]["f1"]) for task in tasks},
        split=split,
        score=float(scores[main][average]["f1"]),
        score_name=selection_score_name(main, average),
        seed=int(cfg.seed),
        torch_version=str(env["torch"]),
        cuda=str(env["cuda"]),
        precision=str(cfg.trainer.precision),
        device=device_line(env),
        runs=runs,
        model_id=model_id,
    )


def command_block(command: str) -> list[str]:
    """The fenced lines of a run's command: a command line as shell, and the Python call that
    ``iter.train(...)`` records as Python, with the import that makes it run as shown."""
    if PYTHON_CALL.match(command):
        return ["```python", "import iter", "", command, "```"]
    return ["```shell", command, "```"]


def card_details(
    command: str,
    env: Mapping,
    dev: Mapping | None,
    test: Mapping | None,
    best_epoch: int,
    tasks: Sequence[str] = TASKS,
) -> str:
    """The section on this run: its command, checkpoint epoch, versions and scores."""
    lines = ["### This run", "", "Exact command:", "", *command_block(command), ""]
    lines.append(
        f"Checkpoint from epoch {best_epoch}; git commit `{env['git_commit']}`"
        f"{' (uncommitted changes)' if env['git_dirty'] else ''}; "
        f"transformers {env['transformers']}, Python {env['python']}."
    )
    for title, scores in (("dev", dev), ("test", test)):
        if scores:
            lines += ["", f"| {title} | P | R | F1 |", "|---|---|---|---|"]
            for task in tasks:
                micro = scores[task]["micro"]
                lines.append(
                    f"| {TASK_LABELS[task]} (micro) | {100 * micro['precision']:.2f} | "
                    f"{100 * micro['recall']:.2f} | {100 * micro['f1']:.2f} |"
                )
    return "\n".join(lines)


# The section a sweep adds to the card of the run it chose; a later summary replaces it.
SWEEP_HEADING = "### The sweep it was chosen from"
# The selection sentence in each form selection_sentence() writes.
SELECTION_LINE = re.compile(
    r"^This checkpoint (?:comes from a single training run|was chosen from \d+ training runs)"
    r"\b.*$",
    re.M,
)
SWEEP_SECTION = re.compile(rf"\n*^{re.escape(SWEEP_HEADING)}$.*?(?=^### |\Z)", re.M | re.S)


def sweep_section(
    runs: Sequence[str],
    chosen: str,
    tasks: Sequence[str],
    test: Mapping[str, tuple[float, float]],
    average: str,
) -> str:
    """The section on the card of the run a sweep chose: the sweep's finished ``runs`` (run
    folder names) and their test F1 per task, ``test[task]`` being (mean, sample standard
    deviation) as fractions in the dataset's ``average``."""
    lines = [
        SWEEP_HEADING,
        "",
        f"This checkpoint is `{chosen}`'s, the best by dev score of the {len(runs)} finished "
        f"runs of its sweep ({', '.join(runs)}). Their test F1 in %, mean ± sample standard "
        "deviation:",
        "",
        "| test | mean ± std |",
        "|---|---:|",
    ]
    for task in tasks:
        mean, std = test[task]
        lines.append(f"| {TASK_LABELS[task]} ({average}) | {100 * mean:.2f} ± {100 * std:.2f} |")
    return "\n".join(lines)


def card_for_sweep(card: str, runs: int, score_name: str, section: str = "") -> str:
    """A rendered ``card`` restated by a sweep: its selection sentence for ``runs`` runs, and
    ``section`` at its end in place of an earlier sweep's (``runs=1`` without a section is
    the card of a run no sweep chose). ``card`` itself when that changes nothing.

    Only the prose changes: the metadata, whose model-index holds the run's own scores, is
    kept byte for byte. A ValueError if the card has no selection sentence to restate.
    """
    import yaml  # huggingface_hub's own dependency, which parses the card's header
    from huggingface_hub import ModelCard

    try:
        text = ModelCard(card).text
    except (TypeError, yaml.YAMLError) as err:  # a bad model-index is a ValueError already
        raise ValueError(f"not a card the hub can read: {err}") from None
    body, found = SELECTION_LINE.subn(selection_sentence(runs, score_name), text, count=1)
    if not found:
        raise ValueError("the card does not say how its checkpoint was chosen")
    # An earlier sweep's section goes wherever it was; the blank line before a heading stays.
    body = SWEEP_SECTION.sub("\n\n", body).rstrip("\n") + "\n"
    if section:
        body += "\n" + section.strip("\n") + "\n"
    if body == text:
        return card
    return card[: len(card) - len(text)] + body
