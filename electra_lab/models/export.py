"""Export trained models as Hugging Face folders that stock transformers loads.

export_dir/
  encoder/        the model to fine-tune (discriminator, or the MLM baseline), with tokenizer
  generator/      the generator (ELECTRA strategies), with tokenizer
"""
from __future__ import annotations

import copy
from pathlib import Path

from torch import nn

from electra_lab.models.packed_dropout import remove_packed_dropout
from electra_lab.models.sharing import merge_gdes


def export_models(models: dict[str, nn.Module], tokenizer, export_dir: Path) -> dict[str, Path]:
    """Save each named model (e.g. {"encoder": disc, "generator": gen}) with the tokenizer."""
    export_dir = Path(export_dir)
    written = {}
    for name, model in models.items():
        model = copy.deepcopy(model).float().cpu()  # never disturb the training copy
        remove_packed_dropout(model)  # stock dropout and SDPA in what is saved
        merge_gdes(model) if hasattr(model, "discriminator_predictions") else None
        # a shared module is saved in full in each folder, so each loads on its own
        folder = export_dir / name
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        written[name] = folder
    return written
