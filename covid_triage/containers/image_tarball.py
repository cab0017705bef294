"""Check an uploaded ``docker save`` tarball before it reaches the container engine.

Accepted: the ``docker save`` / ``podman save --format docker-archive`` layout (a
``manifest.json`` naming one image config and its layers), as ``.tar`` or gzip-compressed
``.tar.gz`` (told apart by content). The file is streamed once (a second, partial pass only
when the image config was not among the small files kept in memory) and never unpacked; every
problem found is reported together (:class:`~evaluator.problems.InvalidInput`). Checked:
exactly one image, ``linux/amd64``, a non-root ``User`` (:mod:`.users`), something to run
(``Entrypoint`` or ``Cmd``), no ``VOLUME`` (it would be writable storage outside the limits),
every listed layer present, the size limits of :class:`~.limits.ImageLimits`, and safe
member names.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from evaluator.problems import InvalidInput, Problem

from .limits import ImageLimits
from .users import EXPECTED_USER, user_problem

try:
    from isal.igzip import BadGzipFile, GzipFile
except ImportError:  # pragma: no cover - only where isal is missing
    from gzip import BadGzipFile, GzipFile

WHAT = "image tarball"
EXPECTED_FORMAT = "the output of `docker save IMAGE` (or `podman save --format docker-archive`), as .tar or .tar.gz"
PLATFORM = ("linux", "amd64")
_GZIP_MAGIC = b"\x1f\x8b"
_OTHER_COMPRESSIONS = {b"BZh": "bzip2", b"\xfd7zXZ": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
#: Small regular files kept in memory during the first pass, in all.
_KEEP_BUDGET_FACTOR = 8


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the checks read from a valid image.

    ``image_id`` is ``sha256:`` + the SHA-256 of the image config, the id Docker and Podman
    give the loaded image; ``image_bytes`` counts the uncompressed tarball (0 for a pulled image).
    """

    image_id: str
    user: str
    os: str
    architecture: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    repo_tags: tuple[str, ...]
    layers: int
    file_bytes: int
    image_bytes: int


class _LimitExceeded(Exception):
    pass


class _CountingReader:
    """A read-only stream that counts bytes and stops past ``limit``."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self.raw, self.limit, self.count = raw, limit, 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        if self.count > self.limit:
            raise _LimitExceeded
        return data


def compression_of(path: Path) -> str | None:
    """``"gzip"``, ``None`` (plain tar) or the name of an unsupported compression."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    for magic, name in _OTHER_COMPRESSIONS.items():
        if head.startswith(magic):
            return name
    return None


def open_tar_stream(path: Path) -> BinaryIO:
    """The uncompressed tar stream of ``path`` (gzip undone); the caller closes it."""
    if compression_of(path) == "gzip":
        return GzipFile(filename=str(path), mode="rb")
    return open(path, "rb")


def iter_tar_bytes(path: Path, *, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    """The uncompressed tar stream of ``path`` in chunks (for uploading it to the engine)."""
    with open_tar_stream(path) as stream:
        while chunk := stream.read(chunk_bytes):
            yield chunk


def _normal_name(name: str) -> str | None:
    """A member name without ``./`` and trailing ``/``; ``None`` when absolute or escaping."""
    if name.startswith("/") or "\\" in name:
        return None
    norm = posixpath.normpath(name)
    if norm == ".":
        return ""
    if norm.startswith("../") or norm == "..":
        return None
    return norm


@dataclass
class _Scan:
    members: dict[str, tarfile.TarInfo]
    kept: dict[str, bytes]
    image_bytes: int


def _scan(path: Path, *, limits: ImageLimits, problems: list[Problem], file: str,
          want: str | None = None) -> _Scan | None:
    """Stream the tar once; keep small regular files (or only ``want``) in memory."""
    members: dict[str, tarfile.TarInfo] = {}
    kept: dict[str, bytes] = {}
    kept_bytes = 0
    budget = _KEEP_BUDGET_FACTOR * limits.max_json_bytes
    stream = open_tar_stream(path)
    reader = _CountingReader(stream, limits.max_image_bytes)
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            for count, member in enumerate(tar, start=1):
                if count > limits.max_members:
                    problems.append(Problem(f"has more than {limits.max_members:,} entries", file=file,
                                            expected=EXPECTED_FORMAT))
                    return None
                name = _normal_name(member.name)
                if name is None:
                    problems.append(Problem(f"has an entry with an unsafe name {member.name!r}", file=file,
                                            expected="relative names inside the tarball"))
                    continue
                members[name] = member
                small = member.isreg() and member.size <= limits.max_json_bytes
                keep = name == want if want else (name == "manifest.json" or kept_bytes + member.size <= budget)
                if small and keep:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        kept[name] = handle.read()
                        kept_bytes += member.size
                if want and name == want:
                    break
    except _LimitExceeded:
        problems.append(Problem(f"unpacks to more than {limits.max_image_bytes:,} bytes", file=file,
                                expected=f"an image of at most {limits.max_image_bytes:,} bytes"))
        return None
    except (tarfile.TarError, EOFError, OSError, zlib.error, BadGzipFile) as exc:
        problems.append(Problem(f"is not a readable tar archive ({exc})", file=file, expected=EXPECTED_FORMAT))
        return None
    finally:
        stream.close()
    return _Scan(members=members, kept=kept, image_bytes=reader.count)


def _load_json(data: bytes, *, file: str, member: str, problems: list[Problem]) -> object | None:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(Problem(f"{member} is not valid JSON ({exc})", file=file))
        return None


def _member_target(scan: _Scan, name: str) -> str | None:
    """The (normalised) name of the regular file that ``name`` is or links to, if any.

    One level of links is followed, as ``docker save`` writes ``<id>/layer.tar -> ../<digest>.tar``.
    """
    member = scan.members.get(name)
    if member is not None and (member.issym() or member.islnk()):
        link = member.linkname if member.islnk() else posixpath.join(posixpath.dirname(name), member.linkname)
        name = _normal_name(link) or ""
        member = scan.members.get(name)
    return name if member is not None and member.isreg() else None


def _manifest_entry(scan: _Scan, *, file: str, problems: list[Problem]) -> dict | None:
    if "manifest.json" not in scan.kept:
        hint = " (an OCI layout: save with `docker save`, not as oci-archive)" if "index.json" in scan.members else ""
        problems.append(Problem(f"has no manifest.json{hint}", file=file, expected=EXPECTED_FORMAT))
        return None
    manifest = _load_json(scan.kept["manifest.json"], file=file, member="manifest.json", problems=problems)
    if manifest is None:
        return None
    if not isinstance(manifest, list) or not all(isinstance(entry, dict) for entry in manifest):
        problems.append(Problem("manifest.json is not a list of images", file=file, expected=EXPECTED_FORMAT))
        return None
    if len(manifest) != 1:
        problems.append(Problem(f"holds {len(manifest)} images", file=file,
                                expected="exactly one image: `docker save` one image, by name or id"))
        return None
    entry = manifest[0]
    if not isinstance(entry.get("Config"), str):
        problems.append(Problem("manifest.json names no image config", file=file, expected=EXPECTED_FORMAT))
        return None
    layers = entry.get("Layers")
    if not isinstance(layers, list) or not all(isinstance(layer, str) for layer in layers):
        problems.append(Problem("manifest.json has no list of layers", file=file, expected=EXPECTED_FORMAT))
        return None
    return entry


def _str_tuple(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return ()


def config_problems(config: dict, *, file: str) -> list[Problem]:
    """Problems of an image config (``docker save``'s config JSON, or ``docker inspect`` in its shape)."""
    problems: list[Problem] = []
    platform = (config.get("os"), config.get("architecture"))
    if platform != PLATFORM:
        problems.append(Problem(f"is built for {platform[0]}/{platform[1]}", file=file,
                                expected="linux/amd64 (docker build --platform linux/amd64)"))
    run = config.get("config")
    if not isinstance(run, dict):
        run = {}
    why = user_problem(run.get("User") if isinstance(run.get("User"), str) else None)
    if why:
        problems.append(Problem(f"image {why}", file=file, expected=EXPECTED_USER))
    if not _str_tuple(run.get("Entrypoint")) and not _str_tuple(run.get("Cmd")):
        problems.append(Problem("image has neither ENTRYPOINT nor CMD", file=file,
                                expected='ENTRYPOINT ["/path/to/your/program"]'))
    volumes = run.get("Volumes")
    if isinstance(volumes, dict) and volumes:
        problems.append(Problem(f"image declares VOLUME {', '.join(sorted(map(str, volumes)))}", file=file,
                                expected="no VOLUME: write results to /output and scratch files to /tmp"))
    return problems


def inspect_image_tarball(path: Path | str, *, limits: ImageLimits = ImageLimits(),
                          display_name: str | None = None) -> ImageInfo:
    """Check a ``docker save`` tarball; return what it holds or raise InvalidInput listing every problem.

    ``display_name`` names the file in problem reports (default: the file's name).
    """
    path = Path(path)
    file = display_name or path.name
    problems: list[Problem] = []
    if not path.is_file():
        raise InvalidInput([Problem("is not a file", file=file)], what=WHAT)
    file_bytes = path.stat().st_size
    if file_bytes > limits.max_file_bytes:
        raise InvalidInput([Problem(f"has {file_bytes:,} bytes", file=file,
                                    expected=f"at most {limits.max_file_bytes:,} bytes")], what=WHAT)
    compression = compression_of(path)
    if compression not in (None, "gzip"):
        raise InvalidInput([Problem(f"is compressed with {compression}", file=file, expected=EXPECTED_FORMAT)],
                           what=WHAT)
    scan = _scan(path, limits=limits, problems=problems, file=file)
    entry = _manifest_entry(scan, file=file, problems=problems) if scan is not None else None
    if scan is None or entry is None:
        raise InvalidInput(problems, what=WHAT)

    config_name = _member_target(scan, _normal_name(entry["Config"]) or "")
    config_data = scan.kept.get(config_name) if config_name is not None else None
    if config_name is not None and config_data is None and scan.members[config_name].size <= limits.max_json_bytes:
        again = _scan(path, limits=limits, problems=problems, file=file, want=config_name)
        config_data = again.kept.get(config_name) if again is not None else None
    if config_name is None:
        problems.append(Problem(f"image config {entry['Config']!r} named in manifest.json is missing", file=file,
                                expected=EXPECTED_FORMAT))
    elif config_data is None:
        problems.append(Problem(f"image config {entry['Config']!r} is larger than {limits.max_json_bytes:,} bytes",
                                file=file))
    for layer in entry["Layers"]:
        name = _normal_name(layer)
        if name is None or _member_target(scan, name) is None:
            problems.append(Problem(f"layer {layer!r} named in manifest.json is missing", file=file,
                                    expected=EXPECTED_FORMAT))

    config: dict[str, Any] | None = None
    if config_data is not None:
        loaded = _load_json(config_data, file=file, member=entry["Config"], problems=problems)
        if isinstance(loaded, dict):
            config = loaded
        elif loaded is not None:
            problems.append(Problem(f"image config {entry['Config']!r} is not a JSON object", file=file))
    if config is not None:
        problems += config_problems(config, file=file)
        rootfs = config.get("rootfs")
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(diff_ids, list) or len(diff_ids) != len(entry["Layers"]):
            problems.append(Problem("image config and manifest.json disagree on the number of layers", file=file,
                                    expected=EXPECTED_FORMAT))
    if problems:
        raise InvalidInput(problems, what=WHAT)
    assert config is not None and config_data is not None
    run = config.get("config") or {}
    return ImageInfo(
        image_id="sha256:" + hashlib.sha256(config_data).hexdigest(),
        user=run["User"].strip(),
        os=config["os"],
        architecture=config["architecture"],
        entrypoint=_str_tuple(run.get("Entrypoint")),
        cmd=_str_tuple(run.get("Cmd")),
        repo_tags=_str_tuple(entry.get("RepoTags")),
        layers=len(entry["Layers"]),
        file_bytes=file_bytes,
        image_bytes=scan.image_bytes,
    )
