"""Training the reference networks with the paper's settings (see :mod:`reference_models.training.config`).

``train(default_config("unet2d", scale="small", steps=200), records=..., out_dir=...)``, or from the command line
``python -m reference_models train unet2d --data mosmed:DIR --out WEIGHTS/unet2d``.
"""

from reference_models.training.config import SCALES, Batching, Schedule, TrainConfig, default_config
from reference_models.training.loop import TrainResult, resolve_device, train

__all__ = ["SCALES", "Batching", "Schedule", "TrainConfig", "TrainResult", "default_config", "resolve_device", "train"]
