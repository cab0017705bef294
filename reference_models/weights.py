"""Checkpoints: saving and loading trained weights with their configuration and data provenance.

A training run writes into one folder (``WEIGHTS/<method>/`` by convention)::

    best.pt        the selected weights (best validation metric), loadable on their own
    last.pt        the latest state, with the optimiser and RNG states, for --resume
    config.json    the TrainConfig, readable without torch
    data.json      provenance of every training and validation series
    history.jsonl  one line per validation ("epoch")

A checkpoint is a plain dict saved with ``torch.save`` and read with ``torch.load(weights_only=True)`` (no
pickled code): ``format``, ``method``, ``model_kwargs``, ``state_dict`` (``None`` for thresholding),
``predict_options`` (keyword arguments for the method's predictor), ``config``, ``step``, ``metrics``,
``data_digest``; ``last.pt`` adds ``optimizer``, ``torch_rng``, ``history``, ``best``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reference_models.registry import METHODS, Method

CHECKPOINT_FORMAT = 1
BEST, LAST = "best.pt", "last.pt"


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A method with its network (``None`` for thresholding) ready for ``method.predict``."""

    method: Method
    model: nn.Module | None
    predict_options: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    digest: str = ""
    """Identifies the weights (used in cache keys of data prepared with this network)."""
    path: Path | None = None


def checkpoint_path(path: Path | str, *, name: str = BEST) -> Path:
    """``path`` itself if it is a file, else ``path/name``."""
    path = Path(path)
    return path if path.is_file() else path / name


def save_checkpoint(path: Path | str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: Path | str, *, name: str = BEST) -> dict[str, Any]:
    """The checkpoint dict (tensors on the CPU); raises ``FileNotFoundError`` or ``ValueError``."""
    file = checkpoint_path(path, name=name)
    if not file.is_file():
        raise FileNotFoundError(f"no checkpoint at {file}")
    payload = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{file}: not a reference-model checkpoint of format {CHECKPOINT_FORMAT}")
    if payload.get("method") not in METHODS:
        raise ValueError(f"{file}: unknown method {payload.get('method')!r}")
    return payload


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_network(method: Method, model_kwargs: dict[str, Any]) -> nn.Module | None:
    """The method's network with the stored keyword arguments (lists become tuples)."""
    if method.build is None:
        return None
    return method.build(**{k: tuple(v) if isinstance(v, list) else v for k, v in model_kwargs.items()})


def load_model(
    path: Path | str, *, device: torch.device | str = "cpu", expected_method: str | None = None
) -> LoadedModel:
    """Load ``path`` (a checkpoint file, or a run folder: its ``best.pt``) onto ``device``, in eval mode."""
    file = checkpoint_path(path)
    payload = read_checkpoint(file)
    method = METHODS[payload["method"]]
    if expected_method is not None and method.name != expected_method:
        raise ValueError(f"{file} holds weights of {method.name!r}, not {expected_method!r}")
    model = build_network(method, payload.get("model_kwargs") or {})
    if model is not None:
        model.load_state_dict(payload["state_dict"])
        model.to(device).eval()
    return LoadedModel(
        method=method,
        model=model,
        predict_options=dict(payload.get("predict_options") or {}),
        config=dict(payload.get("config") or {}),
        metrics=dict(payload.get("metrics") or {}),
        digest=file_digest(file)[:24],
        path=file,
    )


def write_json(path: Path, document: Any) -> None:
    """Write JSON atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
