"""Word boundaries read off sub-word tokens, for input that comes without word alignment."""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerBase

_CONVENTIONS: dict[int, str] = {}


def _convention(tokenizer: PreTrainedTokenizerBase) -> str:
    """'continuation' when word pieces mark continuations (``##``), else the word-start marker."""
    key = id(tokenizer)
    if key not in _CONVENTIONS:
        vocab = tokenizer.get_vocab()
        if any(token.startswith("##") for token in vocab):
            _CONVENTIONS[key] = "continuation"
        elif any(token.startswith("\u2581") for token in vocab):
            _CONVENTIONS[key] = "\u2581"
        else:
            _CONVENTIONS[key] = "\u0120"
    return _CONVENTIONS[key]


def word_boundary_masks(
    tokenizer: PreTrainedTokenizerBase, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(start_mask, end_mask) [B, L]: first and last sub-words of each word; specials excluded."""
    convention = _convention(tokenizer)
    special = set(tokenizer.all_special_ids)
    starts = torch.zeros_like(input_ids, dtype=torch.bool)
    for b, row in enumerate(input_ids.tolist()):
        tokens = tokenizer.convert_ids_to_tokens(row)
        previous_real = False
        for i, (token_id, token) in enumerate(zip(row, tokens, strict=True)):
            real = token_id not in special and bool(attention_mask[b, i])
            if real:
                if convention == "continuation":
                    starts[b, i] = not token.startswith("##")
                else:
                    starts[b, i] = token.startswith(convention) or not previous_real
            previous_real = real
    real = attention_mask.bool() & ~torch.isin(input_ids, torch.tensor(sorted(special)))
    # A word ends where the next position is a word start, a special token or padding.
    next_breaks = torch.ones_like(starts)
    next_breaks[:, :-1] = starts[:, 1:] | ~real[:, 1:]
    return starts, real & next_breaks
