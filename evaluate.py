"""Evaluate a checkpoint on a dataset split: prints the NER / RE / RE+ table, writes JSON.

python3 evaluate.py --model outputs/runs/.../checkpoint-best [--dataset conll04] [--split test]
(``iter evaluate`` is the same command; the code is in iter/cli/evaluate.py.)
"""

from iter.cli.evaluate import main

if __name__ == "__main__":
    main()
