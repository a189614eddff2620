"""Whether two groups of runs differ by more than the test set's draw and the seeds' spread.

python3 scripts/compare_runs.py --a RUN [RUN ...] --b RUN [RUN ...] [--split test]

Each RUN is a finished run folder of train.py (it holds ``predictions-test.json`` and
``predictions-dev.json``, written since 2026-12-07) or a predictions file in the common JSON
format (``evaluate.py --predictions``). A group's score is the mean F1 of its runs. Every
bootstrap resample draws one set of documents for all runs and each group's runs with
replacement (``iter.evaluation.bootstrap.compare``); the table gives B - A with its 95%
interval and a two-sided p-value per task and average. The gold documents are the split of
the dataset that the first run's ``config.yaml`` names (``--dataset`` / ``--data_dir`` to
name them, e.g. for predictions files).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iter.cli.errors import user_errors
from iter.errors import ConfigError
from iter.training.files import predictions_file


def predictions_path(run: Path, role: str) -> Path:
    """The predictions file of a run folder (or the file itself)."""
    if run.is_file():
        return run
    path = run / predictions_file(role)
    if not path.is_file():
        if not run.is_dir():
            raise ConfigError(f"{run}: no such run folder or predictions file")
        raise ConfigError(
            f"{run}: no {path.name} (an unfinished run, or one trained before "
            "runs kept their predictions: evaluate.py --predictions writes them)"
        )
    return path


def dataset_of(runs: list[Path], dataset: str | None) -> str:
    """The dataset named by ``--dataset``, or by the first run folder's config.yaml."""
    if dataset:
        return dataset
    for run in runs:
        config = run / "config.yaml"
        if config.is_file():
            from omegaconf import OmegaConf

            return str(OmegaConf.load(config).dataset.name)
    raise ConfigError("no run folder names its dataset (config.yaml); pass --dataset")


def table_of(path: Path, gold: list, spec):
    from iter.evaluation.bootstrap import count_table, read_predictions

    return count_table(gold, read_predictions(path, gold), spec.symmetric_relation_types,
                       spec.entity_types, spec.relation_types)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", nargs="+", type=Path, required=True, help="group A's runs")
    parser.add_argument("--b", nargs="+", type=Path, required=True, help="group B's runs")
    parser.add_argument("--split", choices=["test", "dev"], default="test")
    parser.add_argument("--dataset", help="registered dataset (default: the runs' own)")
    parser.add_argument("--data_dir", help="folder of the dataset's files (default: data/<name>)")
    parser.add_argument("--samples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="the resampling's random seed")
    parser.add_argument("--output", type=Path, help="write the differences here as JSON")
    args = parser.parse_args(argv)
    with user_errors():
        import iter.config  # noqa: F401  (registers the config resolvers)
        from iter.data.registry import load_dataset_spec
        from iter.evaluation.bootstrap import DEFAULT_LEVEL, compare, format_differences
        from iter.tasks import tasks_of

        if args.samples < 1:
            raise ConfigError(f"--samples must be >= 1, got {args.samples}")
        paths = {group: [predictions_path(run, args.split) for run in getattr(args, group)]
                 for group in ("a", "b")}  # fmt: skip
        overrides = [f"dataset.data_dir={args.data_dir}"] if args.data_dir else []
        spec = load_dataset_spec(dataset_of([*args.a, *args.b], args.dataset), overrides)
        gold = spec.read(spec.test_split if args.split == "test" else spec.dev_split)
        tables = {group: [table_of(path, gold, spec) for path in group_paths]
                  for group, group_paths in paths.items()}  # fmt: skip
        tasks = tasks_of(bool(spec.relation_types))
        differences = compare(tables["a"], tables["b"], tasks, args.samples, seed=args.seed)
        labels = [f"{len(runs)} run(s): {', '.join(map(str, runs))}" for runs in (args.a, args.b)]
        print(format_differences(differences, *labels, args.samples, DEFAULT_LEVEL))
        if args.output:
            payload = {
                "dataset": spec.name,
                "split": args.split,
                "a": [str(run) for run in args.a],
                "b": [str(run) for run in args.b],
                "samples": args.samples,
                "level": DEFAULT_LEVEL,
                "differences": [difference.to_dict() for difference in differences],
            }
            args.output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
            print(f"written: {args.output}")


if __name__ == "__main__":
    main()
