"""Rendering the model card (README.md) that every saved checkpoint carries.

The template is the project's spec (``iter/templates/model_card.md``); its ``{placeholders}``
are filled by name. Some names contain dots (``{torch.version}``), so this is plain
replacement rather than ``str.format``, and an unfilled placeholder is an error rather than
a card with holes in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources

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
