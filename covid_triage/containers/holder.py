"""The output holder: a do-nothing container that keeps a run's ``/output`` tmpfs mounted.

``/output`` is a size-limited tmpfs volume, so its size limit is the kernel's. A tmpfs is
unmounted, and its files lost, as soon as no running container uses it, so the model's
container cannot be asked for its output after it exits. The holder mounts the same volume
and sleeps until it is removed; the runner reads ``/output`` from it (``get_archive``).

Its image is made here, not pulled: one layer holding ``/pause``, a 130-byte static x86-64
ELF program that loops on the ``pause`` system call, loaded with the Engine API from a
``docker save``-format archive built in memory. Same bytes, same image id, on every worker.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile

import docker
from docker.errors import NotFound

_LOAD_ADDRESS = 0x400000
_ELF_HEADER_BYTES = 64
_PROGRAM_HEADER_BYTES = 56
#: loop: mov eax, 34 (SYS_pause); syscall; jmp loop
_CODE = bytes.fromhex("b822000000" "0f05" "ebf7")
HOLDER_USER = "65534:65534"
HOLDER_REPOSITORY = "localhost/leaderboard-output-holder"


def pause_program() -> bytes:
    """A static Linux x86-64 ELF executable that sleeps in ``pause()`` forever."""
    size = _ELF_HEADER_BYTES + _PROGRAM_HEADER_BYTES + len(_CODE)
    entry = _LOAD_ADDRESS + _ELF_HEADER_BYTES + _PROGRAM_HEADER_BYTES
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little-endian, ELF v1, System V
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH",
        2, 0x3E, 1,              # executable, x86-64, version 1
        entry, _ELF_HEADER_BYTES, 0,  # entry point, program headers offset, no section headers
        0, _ELF_HEADER_BYTES, _PROGRAM_HEADER_BYTES, 1, 0, 0, 0,
    )
    program = struct.pack(
        "<IIQQQQQQ",
        1, 5,                    # PT_LOAD, readable + executable
        0, _LOAD_ADDRESS, _LOAD_ADDRESS,  # the whole file, mapped at the load address
        size, size, 0x1000,
    )
    return header + program + _CODE


def _tar(files: list[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data, mode in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def holder_archive() -> tuple[str, bytes]:
    """``(image_id, docker-archive bytes)`` of the holder image; deterministic."""
    layer = _tar([("pause", pause_program(), 0o555)])
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"User": HOLDER_USER, "Entrypoint": ["/pause"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
    }, sort_keys=True).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{
        "Config": f"{config_digest}.json",
        "RepoTags": [f"{HOLDER_REPOSITORY}:{config_digest[:12]}"],
        "Layers": [f"{layer_digest}/layer.tar"],
    }]).encode()
    archive = _tar([
        (f"{config_digest}.json", config, 0o444),
        (f"{layer_digest}/layer.tar", layer, 0o444),
        ("manifest.json", manifest, 0o444),
    ])
    return f"sha256:{config_digest}", archive


def ensure_holder_image(client: docker.DockerClient) -> str:
    """The holder image's id, loading it into the engine first if it is not there."""
    image_id, archive = holder_archive()
    try:
        client.images.get(image_id)
    except NotFound:  # ImageNotFound, or Podman's other wording
        loaded = client.images.load(archive)
        if image_id not in {image.id for image in loaded}:
            raise RuntimeError(f"the engine loaded {[image.id for image in loaded]}, expected {image_id}") from None
    return image_id
