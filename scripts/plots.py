"""Rebuild the pictures from existing folders: curves.png in each run folder, scores.png in
each sweep folder (a folder with summary.json, or one holding finished runs).

python3 scripts/plots.py outputs/runs/conll04/minilm/seed1-* outputs/sweeps/conll04/minilm/main
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iter.cli.errors import user_errors
from iter.errors import IterError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="run or sweep folders")
    args = parser.parse_args(argv)
    from iter.plots import SWEEP_FILE, plot_run
    from iter.sweeps import write_summary
    from iter.training.files import METRICS_FILE

    with user_errors():
        for folder in args.folders:
            if (folder / METRICS_FILE).is_file():
                print(plot_run(folder))
            elif folder.is_dir():
                write_summary(folder)  # also draws scores.png
                print(folder / SWEEP_FILE)
            else:
                raise IterError(
                    f"{folder}: not a run folder (no {METRICS_FILE}) nor a sweep folder"
                )


if __name__ == "__main__":
    main()
