"""Sweep summaries and the paper table, on hand-made run folders; and a real seeded sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from huggingface_hub import ModelCard

from iter.cards import CardValues, card_details, render_card
from iter.errors import IterError
from iter.sweeps import summarize_sweep, summary_markdown, write_summary
from iter.tasks import TASKS
from scripts import paper_table, sweep_summary
from tests.conftest import REPO


def task_scores(f1: float, support: int = 10) -> dict:
    return {"micro": {"f1": f1, "support": support}, "macro": {"f1": f1 / 2, "support": support}}


def write_run(
    folder, seed, dev, test, fold=None, average="micro", dataset="conll04", epochs=None,
    relations=True, epoch_seconds=None,
):  # fmt: skip
    folder.mkdir(parents=True)
    metrics = {
        "dataset": dataset,
        "model": "minilm",
        "transformer": "sentence-transformers/all-MiniLM-L6-v2",
        "seed": seed,
        "fold": fold,
        "selection": f"re_plus {average}",
        "dev_score": dev if average == "micro" else dev / 2,
        "dev": {t: task_scores(dev) for t in ("ner", "re", "re_plus")},
        "scores": {
            t: task_scores(test, support=10 if relations or t == "ner" else 0)
            for t in ("ner", "re", "re_plus")
        },
    }
    if epochs is not None:
        metrics["epochs_trained"] = epochs
    if epoch_seconds is not None:
        metrics["history"] = [{"epoch": i + 1, "seconds": t} for i, t in enumerate(epoch_seconds)]
    (folder / "metrics.json").write_text(json.dumps(metrics))


def write_card(folder, seed, dev, test, relations=True) -> str:
    """The checkpoint-best/README.md the run would have written, by the real card functions;
    returns it."""
    tasks = TASKS if relations else ("ner",)
    env = {"torch": "2.5.0", "cuda": "none", "gpu": None, "torch_threads": 1,
           "git_commit": "abc123", "git_dirty": False, "transformers": "4.57",
           "python": "3.11"}  # fmt: skip
    values = CardValues(
        dataset="conll04",
        model_name="minilm",
        base_model="sentence-transformers/all-MiniLM-L6-v2",
        model_class="ITERForRelationExtraction" if relations else "ITER",
        tasks=tasks,
        f1=dict.fromkeys(tasks, test),
        split="test",
        score=test,
        score_name="RE+ micro F1" if relations else "NER micro F1",
        seed=seed,
        torch_version="2.5.0",
        cuda="none",
        precision="fp32",
        device="CPU (1 thread)",
    )

    def table(f1: float) -> dict:
        return {t: {"micro": {"precision": f1, "recall": f1, "f1": f1}} for t in tasks}

    details = card_details(f"python3 train.py seed={seed}", env, table(dev), table(test), 2, tasks)
    card = render_card(values, details)
    (folder / "checkpoint-best").mkdir()
    (folder / "checkpoint-best" / "README.md").write_text(card, encoding="utf-8")
    return card


def card_of(folder) -> str:
    return (folder / "checkpoint-best" / "README.md").read_text(encoding="utf-8")


def test_the_chosen_runs_card_says_it_was_chosen_from_the_sweep(tmp_path):
    cards = {}
    for seed, dev, test in [(1, 0.60, 0.50), (2, 0.70, 0.54), (3, 0.65, 0.58)]:
        write_run(tmp_path / f"seed{seed}", seed, dev, test)
        cards[seed] = write_card(tmp_path / f"seed{seed}", seed, dev, test)
    write_summary(tmp_path)
    chosen = card_of(tmp_path / "seed2")
    assert (
        "This checkpoint was chosen from 3 training runs: the run and, in it, the epoch with "
        "the best dev RE+ micro F1." in chosen
    )
    assert "single training run" not in chosen
    assert chosen.count("### The sweep it was chosen from") == 1
    assert "`seed2`'s, the best by dev score of the 3 finished runs of its sweep" in chosen
    assert "(seed1, seed2, seed3)" in chosen
    assert "| RE+ (micro) | 54.00 ± 4.00 |" in chosen and "| NER (micro) | 54.00 ± 4.00 |" in chosen
    # The metadata is the run's own, byte for byte: its model-index holds its own test F1.
    header = cards[2][: cards[2].index("\n---\n") + 5]
    assert chosen.startswith(header)
    results = ModelCard.load(tmp_path / "seed2" / "checkpoint-best" / "README.md").data
    assert {r.metric_name: r.metric_value for r in results.eval_results} == {
        "NER micro F1": 54.0, "RE micro F1": 54.0, "RE+ micro F1": 54.0
    }  # fmt: skip
    assert {r.dataset_split for r in results.eval_results} == {"test"}
    assert "### This run" in chosen and "python3 train.py seed=2" in chosen
    # The runs it did not choose keep their single run's card, unchanged.
    for seed in (1, 3):
        assert card_of(tmp_path / f"seed{seed}") == cards[seed]

    # The script on the finished sweep folder restates the same card, once.
    sweep_summary.main([str(tmp_path)])
    assert card_of(tmp_path / "seed2") == chosen

    # More seeds later: the new best is chosen from 4, the earlier choice is one run again.
    write_run(tmp_path / "seed4", 4, 0.9, 0.62)
    cards[4] = write_card(tmp_path / "seed4", 4, 0.9, 0.62)
    sweep_summary.main([str(tmp_path)])
    assert "chosen from 4 training runs" in card_of(tmp_path / "seed4")
    assert "(seed1, seed2, seed3, seed4)" in card_of(tmp_path / "seed4")
    for seed in (1, 2, 3):
        assert card_of(tmp_path / f"seed{seed}") == cards[seed]


def test_a_sweep_of_one_run_or_of_ner_only_claims_what_it_has(tmp_path):
    single = tmp_path / "single"
    write_run(single / "seed1", 1, 0.6, 0.5)
    card = write_card(single / "seed1", 1, 0.6, 0.5)
    write_summary(single)
    assert card_of(single / "seed1") == card  # one run is no choice among runs

    ner = tmp_path / "ner"
    for seed, dev in [(1, 0.8), (2, 0.9)]:
        write_run(ner / f"seed{seed}", seed, dev, dev - 0.1, dataset="conll03", relations=False)
        write_card(ner / f"seed{seed}", seed, dev, dev - 0.1, relations=False)
    write_summary(ner)
    chosen = card_of(ner / "seed2")
    assert "chosen from 2 training runs" in chosen and "| NER (micro) | 75.00 ± 7.07 |" in chosen
    assert "RE (micro) |" not in chosen.split("### The sweep it was chosen from")[1]


def test_summary_reports_each_seed_mean_std_and_the_best_by_dev(tmp_path):
    for seed, dev, test in [(1, 0.60, 0.50), (2, 0.70, 0.54), (3, 0.65, 0.58)]:
        write_run(tmp_path / f"seed{seed}", seed, dev, test)
    (tmp_path / "seed4").mkdir()  # still running: no metrics.json
    summary = summarize_sweep(tmp_path)
    assert [run["seed"] for run in summary["runs"]] == [1, 2, 3]
    assert summary["chosen"]["seed"] == 2  # best dev, not best test
    assert summary["mean_std"]["test"]["re_plus"]["mean"] == pytest.approx(0.54)
    assert summary["mean_std"]["test"]["re_plus"]["std"] == pytest.approx(0.04)  # sample std
    assert summary["unfinished"] == ["seed4"]
    markdown = summary_markdown(summary)
    assert "| seed2 ✓ | 2 |  |  | – |" in markdown  # no epochs or time recorded
    assert "54.00 ± 4.00" in markdown
    assert "Not finished (left out): seed4" in markdown


def test_each_run_s_wall_time_from_its_epochs_or_else_its_log(tmp_path):
    write_run(tmp_path / "seed1", 1, 0.6, 0.5, epochs=2, epoch_seconds=[1800.0, 2100.0])
    # A run from before epochs were timed: its train.log's first and last stamps.
    write_run(tmp_path / "seed2", 2, 0.7, 0.5, epochs=3)
    (tmp_path / "seed2" / "train.log").write_text(
        "[2026-11-28 10:00:00,120][iter.training.run][INFO] - start\n"
        "a line without a stamp\n"
        "[2026-11-28 11:30:30,005][iter.training.run][INFO] - done\n"
    )
    write_run(tmp_path / "seed3", 3, 0.5, 0.5)  # neither
    summary = summarize_sweep(tmp_path)
    runs = {run["seed"]: run for run in summary["runs"]}
    assert (runs[1]["seconds"], runs[1]["seconds_from"]) == (3900.0, "epochs")
    assert (runs[2]["seconds"], runs[2]["seconds_from"]) == (5430.0, "log")
    assert (runs[3]["seconds"], runs[3]["seconds_from"]) == (None, None)
    assert summary["seconds_per_run"] == pytest.approx((3900 + 5430) / 2)
    markdown = summary_markdown(summary)
    assert "| seed1 | 1 |  | 2 | 1 h 05 min |" in markdown
    assert "| seed2 ✓ | 2 |  | 3 | 1 h 30 min* |" in markdown
    assert "| seed3 | 3 |  |  | – |" in markdown
    assert "| **mean ± std** (3 runs) | | | | 1 h 18 min |" in markdown
    assert "\\* From `train.log`" in markdown


def test_runs_of_an_earlier_summary_count_when_their_folders_are_elsewhere(tmp_path):
    first = tmp_path / "machine-a"
    for seed, dev, test in [(1, 0.60, 0.50), (2, 0.70, 0.54)]:
        write_run(first / f"seed{seed}", seed, dev, test)
    earlier = tmp_path / "earlier-summary.json"
    earlier.write_text(json.dumps(summarize_sweep(first)))

    later = tmp_path / "machine-b"
    write_run(later / "seed2", 2, 0.65, 0.56)  # seed 2 again here: the folder wins
    write_run(later / "seed3", 3, 0.62, 0.58)
    summary = write_summary(later, [earlier])
    runs = {run["name"]: run for run in summary["runs"]}
    assert list(runs) == ["seed1", "seed2", "seed3"]
    assert runs["seed1"]["imported_from"] == str(earlier)
    assert runs["seed2"]["imported_from"] is None and runs["seed2"]["test"]["ner"] == 0.56
    assert summary["mean_std"]["test"]["re_plus"]["mean"] == pytest.approx((0.50 + 0.56 + 0.58) / 3)
    markdown = (later / "summary.md").read_text()
    assert "| seed1† | 1 |" in markdown and "| seed2 ✓ | 2 |" in markdown
    assert f"† Read from an earlier summary (`{earlier}`)" in markdown
    # Imported twice (its summary imported again): the first source stays named.
    again = tmp_path / "again.json"
    again.write_text(json.dumps(summary))
    third = tmp_path / "machine-c"
    write_run(third / "seed4", 4, 0.5, 0.5)
    runs = {r["name"]: r for r in summarize_sweep(third, [again])["runs"]}
    assert runs["seed1"]["imported_from"] == str(earlier)
    assert runs["seed3"]["imported_from"] == str(again)

    # Another dataset's summary, or a file that is no summary, is refused by name.
    other = tmp_path / "other"
    write_run(other / "seed1", 1, 0.6, 0.5, dataset="scierc")
    with pytest.raises(IterError, match=r"another sweep's summary \(dataset differ"):
        summarize_sweep(other, [earlier])
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    with pytest.raises(IterError, match=r"broken\.json: not a sweep summary"):
        summarize_sweep(later, [broken])
    bad_run = tmp_path / "bad-run.json"
    bad_run.write_text(json.dumps({**json.loads(earlier.read_text()), "runs": [{"seed": 1}]}))
    with pytest.raises(IterError, match=r"bad-run\.json: a run entry is not a run's scores"):
        summarize_sweep(later, [bad_run])
    done = subprocess.run(
        [sys.executable, "scripts/sweep_summary.py", str(later), "--runs-from", str(earlier)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "| seed1† | 1 |" in done.stdout


def test_cross_validation_folds_use_the_macro_average(tmp_path):
    for fold in range(3):
        write_run(tmp_path / f"fold{fold}-seed1", 1, 0.8, 0.6 + fold / 10, fold, "macro", "ade")
    summary = write_summary(tmp_path)
    assert summary["average"] == "macro"
    assert [run["fold"] for run in summary["runs"]] == [0, 1, 2]
    assert summary["mean_std"]["test"]["re_plus"]["mean"] == pytest.approx(0.35)  # macro = f1/2
    assert json.loads((tmp_path / "summary.json").read_text())["dataset"] == "ade"
    assert (tmp_path / "summary.md").read_text().startswith("# ade")


def test_empty_or_broken_sweeps_are_clear_errors(tmp_path):
    with pytest.raises(IterError, match="no finished run"):
        summarize_sweep(tmp_path)
    (tmp_path / "seed1").mkdir()
    (tmp_path / "seed1" / "metrics.json").write_text("{}")
    with pytest.raises(IterError, match=r"seed1/metrics.json: not a metrics file"):
        summarize_sweep(tmp_path)


def test_paper_table_rows_markdown_and_latex(tmp_path, capsys):
    for seed, dev, test, epochs in [(1, 0.6, 0.5, 31), (2, 0.7, 0.6, 40)]:
        write_run(tmp_path / "conll04" / f"seed{seed}", seed, dev, test, epochs=epochs,
                  epoch_seconds=[60.0 * seed] * epochs)  # fmt: skip
    write_run(tmp_path / "conll03" / "seed1", 1, 0.9, 0.88, dataset="conll03", epochs=2,
              relations=False)  # fmt: skip
    for name in ("conll04", "conll03"):
        write_summary(tmp_path / name)
    # An entity-only dataset has no RE / RE+ to show.
    assert (
        "| seed1 ✓ | 1 |  | 2 | – | 90.00 | – | – | 88.00 | – | – |"
        in (tmp_path / "conll03" / "summary.md").read_text()
    )

    out = tmp_path / "table"
    paper_table.main([str(tmp_path / "conll04"), str(tmp_path / "conll03"), "--output", str(out)])
    markdown = out.with_suffix(".md").read_text()
    conll04_row = next(line for line in markdown.splitlines() if line.startswith("| conll04"))
    assert "55.00 ± 7.07" in conll04_row and "| 60.00 |" in conll04_row  # best = seed 2
    assert "RE+ 77.46" in conll04_row  # the published figure beside it
    # Runs, epochs trained, mean time per run ((31 + 80) min / 2, rounded), sweep name.
    assert "| 2 | 31–40 | 56 min | conll04 |" in conll04_row
    conll03_row = next(line for line in markdown.splitlines() if line.startswith("| conll03"))
    assert "| – |" in conll03_row and "| 1 | 2 |" in conll03_row
    latex = out.with_suffix(".tex").read_text()
    assert r"& 2 & 31--40 & " in latex
    assert r"55.00 $\pm$ 7.07" in latex and latex.strip().endswith(r"\end{tabular}")

    # A committed summary file stands for its sweep folder (whose runs may be elsewhere).
    committed = tmp_path / "committed-conll04.json"
    committed.write_text((tmp_path / "conll04" / "summary.json").read_text())
    from_file = tmp_path / "from-file"
    paper_table.main([str(committed), str(tmp_path / "conll03"), "--output", str(from_file)])
    assert from_file.with_suffix(".md").read_text() == markdown
    not_a_summary = tmp_path / "notes.json"
    not_a_summary.write_text('{"runs": []}')
    with pytest.raises(SystemExit):
        paper_table.main([str(not_a_summary), "--output", str(tmp_path / "x")])
    error = capsys.readouterr().err
    assert "notes.json: not a sweep summary (no dataset, mean_std, chosen)" in error


@pytest.mark.slow
def test_seeded_sweep_through_submitit_local_summarises_and_skips_finished(
    tmp_path, shared_datasets
):
    data = tmp_path / "data" / "conll04"
    data.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        documents = json.loads((shared_datasets / "conll04" / f"{split}.json").read_text())
        (data / f"{split}.json").write_text(json.dumps(documents[:24]))
    env = {
        **os.environ,
        "ITER_DATA_DIR": str(tmp_path / "data"),
        "ITER_OUTPUT_DIR": str(tmp_path / "outputs"),
        "ITER_CACHE_DIR": str(tmp_path / "cache"),
        "WANDB_MODE": "offline",
    }
    command = [
        sys.executable, "train.py", "-m", "hydra/launcher=local", "seed=1,2",
        "trainer.max_epochs=1", "trainer.limit_train_batches=3", "trainer.num_threads=1",
        "sweep_name=test",
    ]  # fmt: skip
    first = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    sweep = tmp_path / "outputs" / "sweeps" / "conll04" / "minilm" / "test"
    summary = json.loads((sweep / "summary.json").read_text())
    assert [run["name"] for run in summary["runs"]] == ["seed1", "seed2"]
    assert (sweep / "seed1" / "checkpoint-best" / "README.md").is_file()
    assert "mean ± std" in (sweep / "summary.md").read_text()
    # The runs of one sweep form one W&B group named after it.
    wandb_run = next((sweep / "seed1" / "wandb").glob("offline-run-*"))
    assert b"conll04-minilm-test" in next(wandb_run.glob("*.wandb")).read_bytes()

    # Re-running the same sweep trains nothing again.
    stamp = (sweep / "seed1" / "metrics.json").stat().st_mtime_ns
    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (sweep / "seed1" / "metrics.json").stat().st_mtime_ns == stamp
    job_output = "".join(p.read_text() for p in (sweep / ".submitit").rglob("*.out"))
    assert job_output.count("skipped, already finished") == 2

    # The same sweep name with another configuration is refused, not mixed in.
    changed = [*command, "trainer.encoder_lr=1e-3"]
    refused = subprocess.run(
        changed, cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert refused.returncode == 2
    assert "holds a run with a different configuration (in: trainer)" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout  # refused before any job ran
    assert (sweep / "seed1" / "metrics.json").stat().st_mtime_ns == stamp


def test_sweep_over_runs_of_another_configuration_is_refused_before_launch(tmp_path):
    from iter.training.files import STATE_FILE

    finished = tmp_path / "outputs" / "sweeps" / "conll04" / "minilm" / "main" / "seed2"
    finished.mkdir(parents=True)
    (finished / "config.yaml").write_text("seed: 2\ntrainer: {encoder_lr: 1.0}\n")
    (finished / STATE_FILE).write_bytes(b"state")
    env = {**os.environ, "ITER_OUTPUT_DIR": str(tmp_path / "outputs"), "WANDB_MODE": "offline"}
    command = [sys.executable, "train.py", "-m", "seed=1,2", "logger=none"]
    refused = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert f"error: {finished} holds a run with a different configuration" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout
    # Refused before launching: seed 1, the first job, never started.
    assert not (finished.parent / "seed1").exists()


def test_rerun_finds_finished_interrupted_and_conflicting_runs(tmp_path):
    from omegaconf import OmegaConf

    from iter.training.files import STATE_FILE
    from iter.training.run_folder import earlier_run

    cfg = OmegaConf.create({"seed": 1, "trainer": {"encoder_lr": 5e-5}, "command": "a"})
    assert earlier_run(tmp_path, cfg) == (None, False)  # a fresh folder
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.merge(cfg, {"command": "b"})))
    (tmp_path / STATE_FILE).write_bytes(b"state")
    assert earlier_run(tmp_path, cfg) == (None, True)  # interrupted: resume it
    (tmp_path / "metrics.json").write_text('{"dev_score": 0.5}')
    assert earlier_run(tmp_path, cfg) == ({"dev_score": 0.5}, False)  # finished: skip it
    other = OmegaConf.create({"seed": 1, "trainer": {"encoder_lr": 1e-3}, "command": "a"})
    with pytest.raises(IterError, match=r"different configuration \(in: trainer\)"):
        earlier_run(tmp_path, other)


def test_an_option_added_after_a_run_counts_at_its_default(tmp_path):
    from omegaconf import OmegaConf

    from iter.training.files import STATE_FILE
    from iter.training.run_folder import earlier_run

    # A run trained before model.signature_constraint existed: its config lacks the key.
    stored = {"seed": 1, "model": {"name": "minilm", "link_context": "max"}}
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(stored)))
    (tmp_path / STATE_FILE).write_bytes(b"state")
    model = {"name": "minilm", "link_context": "max", "signature_constraint": False}
    current = OmegaConf.create({"seed": 1, "model": model})
    assert earlier_run(tmp_path, current) == (None, True)  # the same run: resume it
    changed = OmegaConf.create({"seed": 1, "model": {**model, "signature_constraint": True}})
    with pytest.raises(IterError, match=r"different configuration \(in: model\)"):
        earlier_run(tmp_path, changed)
