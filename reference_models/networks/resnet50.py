"""The ResNet50 identification baseline (Sec. 2.3, 4.4 and the notes).

A ResNet-50 (He et al.; bottleneck blocks 3-4-6-3 as in torchvision, no pretrained weights, a 1-channel first
convolution) maps every axial slice to a ``slice_features``-d vector (its 1,000-d head output, as in the authors'
code). The vectors of all slices are pooled with 1D pyramid max-pooling over the slice axis (1, 2, 4, 8 bins →
15 × 1,000 = 15,000 features), then dropout → linear → 1,024 → ReLU → dropout → linear → 1 logit; the
probability is its sigmoid (applied by the caller or the loss). The dropout rate is not given: we use 0.5, as in
the multitask head. Knobs for small versions: ``width`` (64), ``blocks`` ((3, 4, 6, 3)), ``slice_features`` (1000).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from reference_models.inference import (
    SLICE_BATCH,
    Prediction,
    evaluating,
    every_kth_slice,
    model_device,
    slices_to_tensor,
)
from reference_models.networks.blocks import PYRAMID_BINS, PyramidMaxPool1d, classification_mlp
from reference_models.preprocessing import preprocess

PAPER_BLOCKS: tuple[int, ...] = (3, 4, 6, 3)
EXPANSION = 4


class Bottleneck(nn.Module):
    """1×1 conv → 3×3 conv (carrying the stride) → 1×1 conv to ``4 · width`` channels; BN after each conv,
    ReLU after the first two and after the sum with the shortcut."""

    def __init__(self, in_channels: int, width: int, *, stride: int = 1) -> None:
        super().__init__()
        out_channels = width * EXPANSION
        self.residual = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, out_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.residual(x) + self.shortcut(x))


class ResNet50(nn.Module):
    """``(n, in_channels, x, y) → (n, out_features)``: stem (7×7/2 conv, 3×3/2 max-pool), four stages, global
    average pooling, fully connected layer."""

    def __init__(
        self,
        *,
        in_channels: int = 1,
        width: int = 64,
        blocks: Sequence[int] = PAPER_BLOCKS,
        out_features: int = 1000,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        stages: list[nn.Module] = []
        channels = width
        for index, count in enumerate(blocks):
            stage_width = width * 2**index
            stride = 1 if index == 0 else 2
            layers = []
            for block in range(count):
                layers.append(Bottleneck(channels, stage_width, stride=stride if block == 0 else 1))
                channels = stage_width * EXPANSION
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, out_features)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


class ResNet50Classifier(nn.Module):
    """``(b, 1, x, y, z)`` series → ``(b,)`` COVID-19 logits: ResNet-50 per slice, 1D pyramid pooling, two FC layers."""

    def __init__(
        self,
        *,
        width: int = 64,
        blocks: Sequence[int] = PAPER_BLOCKS,
        slice_features: int = 1000,
        bins: Sequence[int] = PYRAMID_BINS,
        hidden: int = 1024,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.encoder = ResNet50(width=width, blocks=blocks, out_features=slice_features)
        self.pool = PyramidMaxPool1d(bins)
        self.classifier = classification_mlp(self.pool.out_features(slice_features), hidden=hidden, dropout=dropout)

    def encode_slices(self, slices: torch.Tensor) -> torch.Tensor:
        """``(n, 1, x, y) → (n, slice_features)``."""
        return self.encoder(slices)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """``(b, slice_features, z)`` per-slice features → ``(b,)`` logits."""
        return self.classifier(self.pool(features))[:, 0]

    def forward(self, series: torch.Tensor) -> torch.Tensor:
        b, c, x, y, z = series.shape
        slices = series.permute(0, 4, 1, 2, 3).reshape(b * z, c, x, y)
        features = self.encode_slices(slices).reshape(b, z, -1).transpose(1, 2)
        return self.classify(features)


def predict_resnet50(
    model: ResNet50Classifier,
    image_hu: np.ndarray,
    spacing: Sequence[float],
    *,
    lungs: np.ndarray,
    slice_batch: int = SLICE_BATCH,
    classifier_slices: int | None = None,
) -> Prediction:
    """COVID-19 probability of ``image_hu [x, y, z]`` cropped to its ``lungs`` (nonzero = lung).

    The backbone runs ``slice_batch`` slices at a time; the pyramid pooling then sees all slices at once (the
    paper), or with ``classifier_slices`` every k-th slice down to that many (the CPU scales' training crop,
    :func:`reference_models.inference.every_kth_slice`).
    """
    device = model_device(model)
    prepared = preprocess(image_hu, spacing, lungs=lungs, device=device)
    image = prepared.image[:, :, every_kth_slice(prepared.image.shape[2], classifier_slices)]
    with evaluating(model):
        features = [
            model.encode_slices(slices_to_tensor(image[:, :, start : start + slice_batch], device=device))
            for start in range(0, image.shape[2], slice_batch)
        ]
        logit = model.classify(torch.cat(features).T[None])
    return Prediction(probability=float(torch.sigmoid(logit).item()))
