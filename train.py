"""Train ITER. Both the paper's flags and Hydra overrides work:

python3 train.py --dataset conll04 --transformer <name or path> --seed 1 [--use_bfloat16]
python3 train.py dataset=conll04 seed=1 trainer.max_epochs=5
python3 train.py -m dataset=conll04 seed=1,2,3,4,5          # a seeded sweep

(``iter train`` is the same command; the code is in iter/cli/train.py.)
"""

from iter.cli.train import main

if __name__ == "__main__":
    main()
