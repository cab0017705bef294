"""Keep the reference-model tests small and deterministic on a shared CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_single_thread() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    np.random.seed(0)
