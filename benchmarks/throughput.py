"""Throughput of ITER against its bare encoder, on the same batches (not a timed test).

Both comparisons time the two sides batch by batch in alternation (see ``paired_times``).

User path: sentences per second of ``model.predict`` on the CoNLL04 test sentences given as
words (tokenisation, windowing, the three steps, decoding and the mapping back to words)
against the bare encoder tokenising and encoding the same length-sorted sentences.

Inference: sentences per second of the full ITER pipeline (``model.decode``: encoder, the
three steps, decoding into spans and links) against a bare encoder forward pass, over the
same length-sorted batches of CoNLL04 test, at several batch sizes. Training: the cost of one
ITER forward+backward (all three losses) against the bare encoder's forward+backward (a
dummy loss on its hidden states), over the same training batches.

    python3 benchmarks/throughput.py --model outputs/runs/.../checkpoint-best      # CPU, MiniLM
    python3 benchmarks/throughput.py --encoder deberta-v3-large --device cuda --precision bf16

With ``--encoder deberta-v3-large|flan-t5-large`` the encoder is built from its published
shape with random weights (speed does not depend on the weights). A trained checkpoint is
preferred for the MiniLM rows: an untrained model emits spans almost everywhere, which
makes decoding (and so the ITER rows) slower than in real use.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from iter.data.collate import iterate_batches  # noqa: E402
from iter.data.reader import read_documents  # noqa: E402
from iter.inference.documents import encode_for_model  # noqa: E402
from iter.modeling.configuration import ITERConfig  # noqa: E402
from iter.modeling.model import ITERForRelationExtraction  # noqa: E402

CONLL04_ENTITIES = ["Loc", "Org", "Peop", "Other"]
CONLL04_RELATIONS = ["Work_For", "Kill", "OrgBased_In", "Live_In", "Located_In"]

# Published shapes of the paper's large encoders (random weights are enough for speed).
LARGE_ENCODERS = {
    "deberta-v3-large": {
        "model_type": "deberta-v2", "vocab_size": 128100, "hidden_size": 1024,
        "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
        "max_position_embeddings": 512, "relative_attention": True, "position_buckets": 256,
        "norm_rel_ebd": "layer_norm", "share_att_key": True, "pos_att_type": ["p2c", "c2p"],
        "layer_norm_eps": 1e-7, "max_relative_positions": -1, "type_vocab_size": 0,
        "position_biased_input": False,
    },
    "flan-t5-large": {
        "model_type": "t5", "vocab_size": 32128, "d_model": 1024, "d_kv": 64, "d_ff": 2816,
        "num_layers": 24, "num_heads": 16, "feed_forward_proj": "gated-gelu",
        "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
    },
}  # fmt: skip


def build_model(args: argparse.Namespace) -> ITERForRelationExtraction:
    if args.model:
        from iter.modeling.loading import load_model

        return load_model(args.model)
    from transformers import AutoTokenizer

    from iter.modeling.encoder import resolve_encoder_path

    if args.encoder in LARGE_ENCODERS:
        config = ITERConfig(
            encoder_config=LARGE_ENCODERS[args.encoder], entity_types=CONLL04_ENTITIES,
            relation_types=CONLL04_RELATIONS, d_ff=args.d_ff or 0,
        )  # fmt: skip
        model = ITERForRelationExtraction(config)
    else:
        model = ITERForRelationExtraction.from_encoder(
            args.encoder, CONLL04_ENTITIES, CONLL04_RELATIONS, d_ff=args.d_ff or 0
        )
    # Word boundaries and ids come from the MiniLM tokenizer; ids stay inside every vocab here.
    model.tokenizer = AutoTokenizer.from_pretrained(resolve_encoder_path("minilm"))
    return model


def decode_batches(model, segments, batch_size: int, device: torch.device) -> list[tuple]:
    """``model.decode``'s inputs (ids, attention, start and end masks) on ``device``, by batch."""
    pad = model.tokenizer.pad_token_id
    return [
        (b.input_ids.to(device), b.attention_mask.to(device), b.start_mask.to(device),
         b.end_mask.to(device))
        for b in iterate_batches(segments, batch_size, pad)
    ]  # fmt: skip


def sparsify_heads(model, segments, device, gold_entities: int, gold_relations: int) -> dict:
    """Shift each head's logits by a constant so an untrained model emits about as many span
    starts, spans and links as ``segments`` have gold entities and relations.

    Heads with random weights fire almost everywhere (a random DeBERTa-v3-large ITER: 2,562
    entities and 214,543 links on 96 CoNLL04 test sentences, against 353 and 145 gold), and
    decoding that many links is not what a trained model costs. Each offset is found by
    bisection, in the steps' order (links off while the spans are set); adding it costs one
    elementwise add per head. Returns the offsets and the counts they give.
    """
    offsets = {"start": 0.0, "span": 0.0, "link": -1e4}
    heads = {"start": model.start_head, "span": model.span_head, "link": model.link_head}
    for name, head in heads.items():
        if head is not None:
            original = head._output
            # An instance attribute shadows the class's method; the lambda reads the offset
            # at call time, so the bisection can move it.
            head._output = lambda x, _original=original, _name=name: (
                _original(x) + offsets[_name]
            )
    batches = decode_batches(model, segments, 32, device)

    @torch.inference_mode()
    def count(step: str) -> int:
        # Starts need only the encoder and the start step; spans and links a full decode.
        total = 0
        for input_ids, attention_mask, start_mask, end_mask in batches:
            if step == "start":
                hidden = model.encode(input_ids, attention_mask)
                total += int((model.start_logits(hidden, start_mask) > 0).sum())
                continue
            for sentence in model.decode(input_ids, attention_mask, start_mask, end_mask):
                total += len(sentence.spans if step == "span" else sentence.links)
        return total

    targets = {"start": gold_entities, "span": gold_entities, "link": gold_relations}
    for name in ("start", "span", "link"):
        if heads[name] is None:
            continue
        low, high = -64.0, 64.0  # more firing as the offset grows
        for _ in range(20):
            offsets[name] = (low + high) / 2
            if count(name) > targets[name]:
                high = offsets[name]
            else:
                low = offsets[name]
        offsets[name] = low  # at most the target
    counts = {name: count(name) for name in targets if heads[name] is not None}
    return {"offsets": dict(offsets), "counts": counts, "gold": targets}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def paired_times(
    baseline: Callable[[object], None],
    candidate: Callable[[object], None],
    batches: list,
    device: torch.device,
    repeats: int,
) -> tuple[float, float, float]:
    """Seconds per pass over ``batches`` of ``baseline`` and ``candidate``, and their ratio.

    The two are timed batch by batch in alternation (which one goes first alternates too),
    so a machine that speeds up or slows down during the benchmark (shared hosts do) moves
    both alike instead of skewing the ratio. After one warm-up pass, each of ``repeats``
    passes gives a total per side; the medians are returned, with the median of the
    per-pass ratios candidate / baseline.
    """

    def clock(function, batch) -> float:
        synchronize(device)
        start = time.perf_counter()
        function(batch)
        synchronize(device)
        return time.perf_counter() - start

    for batch in batches:
        baseline(batch)
        candidate(batch)
    base_totals, cand_totals = [], []
    for repeat in range(repeats):
        base_total = cand_total = 0.0
        for index, batch in enumerate(batches):
            if (index + repeat) % 2 == 0:
                base_total += clock(baseline, batch)
                cand_total += clock(candidate, batch)
            else:
                cand_total += clock(candidate, batch)
                base_total += clock(baseline, batch)
        base_totals.append(base_total)
        cand_totals.append(cand_total)
    ratios = [c / b for b, c in zip(base_totals, cand_totals, strict=True)]
    return statistics.median(base_totals), statistics.median(cand_totals), statistics.median(ratios)


def speed_row(
    batch_size: int, sentences: int, encoder_s: float, iter_s: float, cost: float
) -> dict:
    """One row of sentences per second, encoder against ITER, from :func:`paired_times`."""
    return {
        "batch_size": batch_size,
        "sentences": sentences,
        "encoder_sentences_per_s": sentences / encoder_s,
        "iter_sentences_per_s": sentences / iter_s,
        "iter_over_encoder": 1 / cost,
    }


def inference_rows(model, segments, batch_sizes, device, repeats) -> list[dict]:
    """Rows of encoder against ITER inference, in the dtype of ``model``'s weights."""
    rows = []
    for batch_size in batch_sizes:
        batches = decode_batches(model, segments, batch_size, device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

        # The same autograd mode as model.decode uses, so the ratio measures the heads alone.
        @torch.inference_mode()
        def encoder_only(batch):
            model.encode(batch[0], batch[1])

        def iter_full(batch):
            model.decode(*batch)

        timings = paired_times(encoder_only, iter_full, batches, device, repeats)
        row = speed_row(batch_size, len(segments), *timings)
        if device.type == "cuda":
            row["peak_gpu_memory_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def user_path_rows(model, documents, batch_sizes, device, repeats) -> list[dict]:
    """Rows of what users meet: ``model.predict`` on word lists (tokenisation, windowing,
    the three steps and the mapping back to words included) against the bare encoder
    tokenising and encoding the same length-sorted sentences."""
    rows = []
    tokenizer = model.tokenizer
    lengths = [len(tokenizer(list(d.tokens), is_split_into_words=True)["input_ids"])
               for d in documents]  # fmt: skip
    order = sorted(range(len(documents)), key=lambda i: lengths[i])
    words = [list(documents[i].tokens) for i in order]
    for batch_size in batch_sizes:
        chunks = [words[i : i + batch_size] for i in range(0, len(words), batch_size)]

        @torch.inference_mode()
        def encoder_only(chunk):
            encoded = tokenizer(chunk, is_split_into_words=True, padding=True, truncation=True,
                                return_tensors="pt")  # fmt: skip
            model.encode(encoded["input_ids"].to(device), encoded["attention_mask"].to(device))

        def iter_predict(chunk):
            model.predict(chunk, batch_size=len(chunk))

        timings = paired_times(encoder_only, iter_predict, chunks, device, repeats)
        row = speed_row(batch_size, len(words), *timings)
        rows.append(row)
        print(json.dumps({"user_path": row}), flush=True)
    return rows


def training_row(model, segments, batch_size, device, autocast, batches_to_time) -> dict:
    pad = model.tokenizer.pad_token_id
    batches = [b.model_inputs(device) for b in iterate_batches(segments, batch_size, pad)]
    batches = batches[:batches_to_time]
    model.train()

    def encoder_step(inputs):
        with autocast():
            hidden = model.encode(inputs["input_ids"], inputs["attention_mask"])
        hidden.float().pow(2).mean().backward()
        model.zero_grad(set_to_none=True)

    def iter_step(inputs):
        with autocast():
            loss = model(**inputs).loss
        loss.backward()
        model.zero_grad(set_to_none=True)

    encoder_s, iter_s, cost = paired_times(encoder_step, iter_step, batches, device, 3)
    model.eval()
    row = {"batch_size": batch_size, "batches": len(batches), "encoder_fwd_bwd_s": encoder_s,
           "iter_fwd_bwd_s": iter_s, "iter_cost_over_encoder": cost}  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="trained checkpoint folder (MiniLM rows)")
    parser.add_argument(
        "--encoder", default="minilm", help="minilm | deberta-v3-large | flan-t5-large"
    )
    parser.add_argument("--d_ff", type=int)
    parser.add_argument("--data", default=str(REPO / "data" / "conll04"))
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train_batches", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--threads", type=int)
    parser.add_argument("--limit", type=int, help="only the first N sentences of each split")
    parser.add_argument(
        "--sparse_heads", action=argparse.BooleanOptionalAction, default=None,
        help="shift an untrained model's head logits so it emits about as many starts, spans "
        "and links as the test set's gold annotation (default: on without --model)",
    )  # fmt: skip
    parser.add_argument("--output", help="JSON results (default: benchmarks/results/...)")
    parser.add_argument(
        "--parts", nargs="+", default=["user", "decode", "training"],
        choices=["user", "decode", "training"],
        help="user: model.predict vs tokenizer+encoder; decode: model.decode vs encoder on "
        "encoded batches; training: forward+backward",
    )  # fmt: skip
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.precision == "bf16" else None

    def autocast():
        return (
            torch.autocast(device.type, dtype=dtype)
            if dtype
            else torch.autocast(device.type, enabled=False)
        )

    model = build_model(args).to(device).eval()
    test = read_documents(Path(args.data) / "test.json")
    train = read_documents(Path(args.data) / "train.json")
    if args.limit:
        test, train = test[: args.limit], train[: args.limit]
    test_segments = encode_for_model(model, test)
    train_segments = encode_for_model(model, train)
    machine = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else
        f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__, "python": platform.python_version(),
        "precision": args.precision, "encoder": args.model or args.encoder,
        "encoder_parameters_m": sum(p.numel() for p in model.encoder.parameters()) / 1e6,
        "iter_parameters_m": sum(p.numel() for p in model.parameters()) / 1e6,
    }  # fmt: skip
    print(json.dumps(machine), flush=True)
    # Inference in bf16 runs on weights cast to bf16 once, as a user loading a model with
    # from_pretrained(..., dtype=torch.bfloat16) has them: autocast would cast every weight
    # again on every batch. Training keeps fp32 weights under autocast (mixed precision).
    inference_model = copy.deepcopy(model).to(dtype) if dtype else model
    if args.sparse_heads if args.sparse_heads is not None else not args.model:
        machine["sparse_heads"] = sparsify_heads(
            inference_model, test_segments, device,
            sum(len(d.entities) for d in test), sum(len(d.relations) for d in test),
        )  # fmt: skip
        print(json.dumps({"sparse_heads": machine["sparse_heads"]}), flush=True)
    results = {"machine": machine, "user_path": None, "inference": None, "training": None,
               "command": " ".join(sys.argv)}  # fmt: skip
    output = Path(args.output or REPO / "benchmarks" / "results" /
                  f"throughput-{args.encoder}-{device.type}-{args.precision}.json")  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        # After every part: a run stopped by a time limit keeps the parts it finished.
        results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        output.write_text(json.dumps(results, indent=2))

    if "user" in args.parts:
        results["user_path"] = user_path_rows(inference_model, test, args.batch_sizes, device,
                                              args.repeats)  # fmt: skip
        write()
    if "decode" in args.parts:
        results["inference"] = inference_rows(inference_model, test_segments, args.batch_sizes,
                                              device, args.repeats)  # fmt: skip
        write()
    del inference_model
    if "training" in args.parts:
        results["training"] = training_row(model, train_segments, 8, device, autocast,
                                           args.train_batches)  # fmt: skip
    write()
    print(f"written: {output}")


if __name__ == "__main__":
    main()
