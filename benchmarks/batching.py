"""Training time per epoch with batches random in length against grouped by length (not a
timed test; issue 13, item 2).

One epoch of CoNLL04 train (batch 8) is a forward, backward and AdamW step per batch, in the
order the trainer would give with ``trainer.group_by_length`` false and true (the same seeds
as a run's epochs). The two orders alternate epoch by epoch, so a machine that changes speed
during the benchmark moves both alike; the padded tokens per epoch are reported beside.

    python3 benchmarks/batching.py --model outputs/runs/.../checkpoint-best --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from iter.data.collate import batch_order, iterate_batches  # noqa: E402
from iter.data.reader import read_documents  # noqa: E402
from iter.inference.documents import encode_for_model  # noqa: E402
from iter.modeling.loading import load_model  # noqa: E402


def epoch_seconds(model, segments, order, optimizer) -> float:
    pad = model.tokenizer.pad_token_id
    start = time.perf_counter()
    for batch in iterate_batches(segments, 8, pad, order=order):
        loss = model(**batch.model_inputs(torch.device("cpu"))).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a checkpoint folder (MiniLM)")
    parser.add_argument("--data", default=str(REPO / "data" / "conll04" / "train.json"))
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per order")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = load_model(args.model)
    documents = read_documents(args.data, model.config.entity_types, model.config.relation_types)
    segments = encode_for_model(model, documents)
    lengths = [len(row["input_ids"]) for row in segments]
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)

    def order(epoch: int, grouped: bool) -> list[list[int]]:
        generator = torch.Generator().manual_seed(100_003 + epoch)  # seed 1's epochs
        return batch_order(lengths, 8, True, generator, grouped)

    seconds: dict[str, list[float]] = {"random": [], "grouped": []}
    epoch_seconds(model, segments, order(0, False)[:10], optimizer)  # warm-up
    for epoch in range(args.epochs):
        for name in (("random", "grouped") if epoch % 2 == 0 else ("grouped", "random")):
            taken = epoch_seconds(model, segments, order(epoch, name == "grouped"), optimizer)
            seconds[name].append(taken)
            print(f"epoch {epoch} {name}: {taken:.1f} s", flush=True)
    real = sum(lengths)
    rows = {}
    for name, grouped in (("random", False), ("grouped", True)):
        batches = order(0, grouped)
        padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
        rows[name] = {
            "epoch_s_median": round(statistics.median(seconds[name]), 2),
            "epoch_s": [round(s, 2) for s in seconds[name]],
            "batches": len(batches),
            "padded_tokens_over_real": round(padded / real, 3),
        }
    speed_up = rows["random"]["epoch_s_median"] / rows["grouped"]["epoch_s_median"]
    rows["speed_up"] = round(speed_up, 2)
    result = {
        "model": args.model, "threads": args.threads, "sentences": len(segments),
        "torch": torch.__version__, "rows": rows,
        "command": "python3 benchmarks/batching.py " + " ".join(sys.argv[1:]),
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
