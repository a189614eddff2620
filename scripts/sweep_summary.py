"""Summarise a sweep folder: each run's dev/test NER, RE, RE+, mean ± std, the chosen seed.

python3 scripts/sweep_summary.py outputs/sweeps/conll04/minilm/main
Writes summary.json and summary.md into the folder and prints the Markdown table; the chosen
run's checkpoint-best/README.md then says it was chosen from the sweep's finished runs, with
their test mean ± std (the other runs' cards say they are single runs).
(train.py -m does this by itself when the sweep ends; this re-runs it, e.g. after a crash.)

--runs-from SUMMARY.json (repeatable) counts the runs of an earlier summary too, unless a run
folder of the same name is here: a sweep whose first seeds ran on another machine, e.g.
python3 scripts/sweep_summary.py outputs/sweeps/conll04/minilm/full \
    --runs-from benchmarks/sweeps/conll04-minilm-full.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iter.cli.errors import user_errors
from iter.sweeps import summary_markdown, write_summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", nargs="+", help="sweep folder(s) holding one run per job")
    parser.add_argument(
        "--runs-from",
        type=Path,
        action="append",
        default=[],
        metavar="SUMMARY_JSON",
        help="an earlier summary.json whose runs count too (their folders are elsewhere)",
    )
    args = parser.parse_args(argv)
    with user_errors():
        for folder in args.sweep_dir:
            if not Path(folder).is_dir():
                from iter.sweeps import SweepError

                raise SweepError(f"{folder}: no such sweep folder")
            print(summary_markdown(write_summary(Path(folder), args.runs_from)))


if __name__ == "__main__":
    main()
