"""Keep the reference-model tests small and deterministic on a shared CPU."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from reference_models.cli import main
from tests.reference_models.phantom_sets import specs, write_all


@pytest.fixture(autouse=True)
def _deterministic_single_thread() -> None:
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))  # 1 unless asked (tests/conftest.py)
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def phantom_sets(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Tiny phantom datasets in every real layout (see ``phantom_sets.py``), written once per session."""
    return write_all(tmp_path_factory.mktemp("phantom-sets"))


@pytest.fixture(scope="session")
def tiny_weights(phantom_sets: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``WEIGHTS/<method>/best.pt`` for lungs, unet2d, resnet50 and multitask_spatial1: tiny networks, a few
    batches each, trained through the command line on the tiny phantom sets."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("weights")
    data = [arg for spec in specs(phantom_sets) for arg in ("--data", spec)]
    common = ["--scale", "tiny", "--seed", "0", "--quiet", "--cache-dir", str(root / "cache")]
    assert main(["train", "lungs", *data, "--out", str(root / "lungs"), "--steps", "30", *common]) == 0
    for method in ("unet2d", "resnet50", "multitask_spatial1"):
        code = main(["train", method, *data, "--out", str(root / method), "--steps", "3",
                     "--lungs-weights", str(root / "lungs"), *common])
        assert code == 0
    return root
