"""Hand-built ``docker save`` tarballs (valid and broken) for the image checks, without an engine."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

Entry = tuple[str, bytes | None, str | None]


def tar_bytes(files: list[Entry]) -> bytes:
    """A tar of ``(name, data, symlink_target)`` entries: a file when data is given, else a symlink."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, link in files:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, link or ""
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def image_config(*, user: str | None = "1000:1000", os: str = "linux", architecture: str = "amd64",
                 entrypoint: list[str] | None = ("/model",), volumes: dict | None = None, layers: int = 1,
                 ) -> dict:
    run: dict = {}
    if user is not None:
        run["User"] = user
    if entrypoint is not None:
        run["Entrypoint"] = list(entrypoint)
    if volumes:
        run["Volumes"] = volumes
    return {"os": os, "architecture": architecture, "config": run,
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{i:064x}" for i in range(layers)]}}


def write_archive(path: Path, *, configs: list[dict] | None = None, compress: bool = False,
                  drop_layer: bool = False, drop_config: bool = False, manifest: bytes | None = None,
                  extra: list[Entry] = (), first: list[Entry] = (),
                  layer_bytes: int = 512, layer_data: bytes | None = None) -> Path:
    """A docker-save layout (layer files linked from ``<id>/layer.tar`` as Docker writes them)."""
    configs = configs if configs is not None else [image_config()]
    files: list[Entry] = list(first)
    entries = []
    for index, config in enumerate(configs):
        config_data = json.dumps(config).encode()
        config_name = hashlib.sha256(config_data).hexdigest() + ".json"
        layer_names = []
        for k in range(len(config["rootfs"]["diff_ids"])):
            layer = layer_data or tar_bytes([(f"file{index}-{k}", bytes(layer_bytes), None)])
            digest = hashlib.sha256(layer).hexdigest()
            if not (drop_layer and k == 0):
                files.append((f"{digest}.tar", layer, None))
            files.append((f"{digest[:16]}/layer.tar", None, f"../{digest}.tar"))
            layer_names.append(f"{digest[:16]}/layer.tar")
        if not drop_config:
            files.append((config_name, config_data, None))
        entries.append({"Config": config_name, "RepoTags": [f"team/model{index}:latest"], "Layers": layer_names})
    files += list(extra)
    files.append(("manifest.json", manifest if manifest is not None else json.dumps(entries).encode(), None))
    data = tar_bytes(files)
    path.write_bytes(gzip.compress(data, compresslevel=1) if compress else data)
    return path
