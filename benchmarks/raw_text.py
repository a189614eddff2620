"""Raw text against words: what users of ``model.predict`` on plain strings lose (not a test).

The test sentences of a dataset are scored four ways with one checkpoint:

- words: the corpus's own tokens (``predict_documents``), the reference;
- text: each sentence's tokens joined by spaces, sent through ``model.predict`` as a string
  (sentence splitting, Treebank word splitting, character offsets);
- paragraphs of 3 and of 10 sentences joined by spaces, sent as one string each;
- paragraphs of 10 sentences one per line, split at the lines (``sentences: lines``): the
  true boundaries given, which shows what the sentence splitter's errors cost.

Predicted character spans are mapped back to the corpus's words; a predicted entity whose
boundaries fall inside a word cannot match and counts as a false positive (and its
relations too). A second, "tolerant" score also maps the boundaries of the corpus's own
inconsistencies: CoNLL04 keeps a sentence-final period on the last word in about 40 test
sentences (``Galveston.`` as the entity, where most sentences end in ``… Galveston .``) and
``$`` on amounts (``$3.2``), which no splitter can know from the text; there an entity that
ends just before the attached period (or starts just after the ``$``) counts as that word.
Gold relations across sentences do not exist, so a paragraph's relations
are scored against the union of its sentences' relations.

    python3 benchmarks/raw_text.py --model outputs/runs/.../checkpoint-best --dataset conll04
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iter.data.document import Document, Entity, Relation
from iter.inference.text import SENTENCE_SPLITTERS


def joined(documents: list[Document]) -> tuple[str, list[tuple[int, int]]]:
    """The documents' tokens joined by single spaces, and each token's character span."""
    spans, position = [], 0
    for document in documents:
        for token in document.tokens:
            spans.append((position, position + len(token)))
            position += len(token) + 1
    return " ".join(t for d in documents for t in d.tokens), spans


def to_documents(prediction, documents: list[Document], tolerant: bool = False) -> list[Document]:
    """A text's character-level prediction as word-level predictions per sentence."""
    text, spans = joined(documents)
    starts = {a: i for i, (a, _) in enumerate(spans)}
    ends = {b: i + 1 for i, (_, b) in enumerate(spans)}
    if tolerant:  # the corpus's attached periods and dollar signs (see the module's doc)
        for i, (a, b) in enumerate(spans):
            if b - a > 1 and text[b - 1] == ".":
                ends.setdefault(b - 1, i + 1)
            if b - a > 1 and text[a] == "$":
                starts.setdefault(a + 1, i)
    sentence_of, first = [], 0
    for index, document in enumerate(documents):
        sentence_of += [(index, first)] * len(document.tokens)
        first += len(document.tokens)
    entities: list[tuple[int, Entity]] = []
    for k, entity in enumerate(prediction.entities):
        a, b = starts.get(entity.start), ends.get(entity.end)
        if a is None or b is None or sentence_of[a][0] != sentence_of[b - 1][0]:
            # Not on word boundaries (or across sentences): it can match nothing. A position
            # past every sentence keeps it (and its relations) as a false positive.
            entities.append((0, Entity(10_000 + k, 10_001 + k, entity.type)))
            continue
        index, offset = sentence_of[a]
        entities.append((index, Entity(a - offset, b - offset, entity.type)))
    found = [([], []) for _ in documents]
    for index, entity in entities:
        found[index][0].append(entity)
    for relation in prediction.relations:
        (hi, head), (ti, tail) = entities[relation.head], entities[relation.tail]
        if ti != hi:
            # Across sentences: no gold relation is, so it stays a false positive.
            tail = Entity(20_000 + relation.tail, 20_001 + relation.tail, tail.type)
        found[hi][1].append(Relation(head, tail, relation.type))
    return [
        document.with_annotations(tuple(sorted(set(e))), tuple(sorted(set(r))))
        for document, (e, r) in zip(documents, found, strict=True)
    ]


def score(model, gold: list[Document], predicted: list[Document]) -> dict[str, float]:
    from iter.evaluation.runner import score_predictions

    result = score_predictions(model, gold, predicted)
    return {
        "ner": round(100 * result.ner.micro.f1, 2),
        "re_plus": round(100 * result.re_plus.micro.f1, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", default="conll04")
    parser.add_argument("--split", default="test")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument(
        "--sentences",
        choices=SENTENCE_SPLITTERS,
        help="sentence splitter instead of the checkpoint's own (checkpoints trained before "
        "the dataset named a newer one)",
    )
    args = parser.parse_args()

    import iter.config  # noqa: F401  (resolvers for the dataset configs)
    from iter.data.registry import load_dataset_spec
    from iter.inference.documents import predict_documents
    from iter.modeling.loading import load_model

    model = load_model(args.model).eval()
    gold = load_dataset_spec(args.dataset).read(args.split)
    rows = {"words": score(model, gold, predict_documents(model, gold, args.batch_size))}
    splitting = dict(model.config.text_splitting)
    if args.sentences:
        splitting["sentences"] = args.sentences
    # (name, sentences per string, what joins them, the sentence splitter): the last gives
    # the corpus's boundaries as line breaks and splits at the lines.
    variants = [
        ("text", 1, " ", splitting["sentences"]),
        ("paragraphs of 3", 3, " ", splitting["sentences"]),
        ("paragraphs of 10", 10, " ", splitting["sentences"]),
        ("paragraphs of 10, one per line", 10, "\n", "lines"),
    ]
    for name, size, separator, sentences in variants:
        model.config.text_splitting = {**splitting, "sentences": sentences}
        groups = [gold[i : i + size] for i in range(0, len(gold), size)]
        texts = [separator.join(" ".join(d.tokens) for d in group) for group in groups]
        predictions = model.predict(texts, batch_size=args.batch_size)
        for tolerant in (False, True):
            predicted = [
                document
                for prediction, group in zip(predictions, groups, strict=True)
                for document in to_documents(prediction, group, tolerant)
            ]
            rows[name + (", tolerant" if tolerant else "")] = score(model, gold, predicted)
    for name, row in rows.items():
        print(f"{name:<42} NER {row['ner']:6.2f}   RE+ {row['re_plus']:6.2f}")
    if args.output:
        args.output.write_text(
            json.dumps(
                {
                    "model": args.model,
                    "dataset": args.dataset,
                    "sentence_splitter": splitting["sentences"],
                    "rows": rows,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
