#!/usr/bin/env python
"""Overhead of one container evaluation beyond the model's own run time (issue 4, performance).

    DOCKER_HOST=unix:///run/podman/podman.sock python scripts/bench_container_overhead.py [--repeats 5]

Builds a tiny model image through the Engine API (Debian's busybox-static, ``FROM scratch``; its
entrypoint writes predictions for every case and sleeps ``--model-seconds``), saves it as a
``docker save`` tarball, removes it from the engine, and then, ``--repeats`` times, does what a
GPU worker does for one evaluation: check the tarball, load it, run the model on a small test
set, collect ``/output``, validate and score it, and remove the image. ``/input`` is prepared
once (a worker keeps it per test-set version). The model's own run time is the engine's
StartedAt → FinishedAt; everything else is overhead. Prints one line per repeat and the medians.
Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluator.scoring import ScoringOptions, Track, score_archive  # noqa: E402
from evaluator.testset import load_testset  # noqa: E402
from evaluator.truth import build_truth  # noqa: E402
from leaderboard.containers import (  # noqa: E402
    ContainerLimits,
    connect,
    engine_url,
    inspect_image_tarball,
    load_image_tarball,
    prepare_input_dir,
    remove_image,
    run_model,
)

GROUPS = ("covid", "bacterial_pneumonia", "nodules", "normal")


def write_testset(root: Path, *, cases: int, shape: tuple[int, int, int]) -> Path:
    """A small test set: noise CTs, two box lungs, a box lesion in COVID-19 cases."""
    rng = np.random.default_rng(0)
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    for folder in ("images", "lungs", "lesions"):
        (root / folder).mkdir(parents=True)
    rows = ["case_id,group,distribution"]
    x, y, z = shape
    for index in range(cases):
        case_id, group = f"case_{index:03d}", GROUPS[index % len(GROUPS)]
        rows.append(f"{case_id},{group},{'private' if index % 5 == 0 else 'public'}")
        image = rng.normal(-800, 50, shape).astype(np.int16)
        lungs = np.zeros(shape, np.uint8)
        lungs[x // 8 : x // 2 - 1, y // 4 : 3 * y // 4, z // 8 : 7 * z // 8] = 1
        lungs[x // 2 + 1 : 7 * x // 8, y // 4 : 3 * y // 4, z // 8 : 7 * z // 8] = 2
        nib.save(nib.Nifti1Image(image, affine), str(root / "images" / f"{case_id}.nii.gz"))
        nib.save(nib.Nifti1Image(lungs, affine), str(root / "lungs" / f"{case_id}.nii.gz"))
        if group == "covid":
            lesion = np.zeros(shape, np.uint8)
            lesion[x // 4 : x // 4 + 4, y // 2 : y // 2 + 4, z // 2 : z // 2 + 2 + index % 3] = 1
            nib.save(nib.Nifti1Image(lesion, affine), str(root / "lesions" / f"{case_id}.nii.gz"))
    (root / "cases.csv").write_text("\n".join(rows) + "\n")
    (root / "testset.json").write_text(json.dumps({"name": "bench", "version": "1"}))
    return root


def build_image_tarball(client, dest: Path, *, model_seconds: float) -> Path:
    busybox = Path("/bin/busybox").read_bytes()
    script = f"""set -e
{{ echo "case_id,covid_probability"
  tail -n +2 /input/cases.csv | while read id; do echo "$id,0.5"; done
}} > /output/predictions.csv
sleep {model_seconds}
"""
    dockerfile = ('FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
                  'COPY model.sh /model.sh\nUSER 1000:1000\nENTRYPOINT ["/bin/sh", "/model.sh"]\n')
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, mode in (("Dockerfile", dockerfile.encode(), 0o644), ("busybox", busybox, 0o755),
                                 ("model.sh", script.encode(), 0o755)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    tag = "localhost/leaderboard-bench:overhead"
    image, _ = client.images.build(fileobj=buffer, custom_context=True, tag=tag, rm=True)
    with open(dest, "wb") as handle:
        for chunk in image.save(named=True):
            handle.write(chunk)
    remove_image(client, image.id)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 64, 32))
    parser.add_argument("--model-seconds", type=float, default=1.0)
    args = parser.parse_args()

    client = connect()
    version = client.version()
    print(f"engine: {engine_url()} ({version.get('Components', [{}])[0].get('Name', 'engine')} "
          f"{version.get('Version')}), {args.cases} cases of {tuple(args.shape)}, model sleeps {args.model_seconds} s")
    limits = ContainerLimits(memory_bytes=512 << 20, pids=128, cpus=1.0, wall_clock_seconds=120)
    with tempfile.TemporaryDirectory(prefix="bench-container-") as tmp:
        tmp_path = Path(tmp)
        testset = load_testset(write_testset(tmp_path / "testset", cases=args.cases, shape=tuple(args.shape)))
        truth = build_truth(testset, cache_root=tmp_path / "truth")
        started = time.perf_counter()
        input_dir = tmp_path / "input"
        prepare_input_dir(testset.cases, dest=input_dir)
        prepare_seconds = time.perf_counter() - started
        tarball = build_image_tarball(client, tmp_path / "model.tar", model_seconds=args.model_seconds)
        print(f"image tarball: {tarball.stat().st_size:,} bytes; /input prepared once in {prepare_seconds:.3f} s")
        header = ("check", "load", "setup", "start", "run", "collect", "cleanup", "score", "rmi", "model",
                  "overhead", "+score")
        print(" ".join(f"{name:>8}" for name in header))
        rows = []
        for repeat in range(args.repeats):
            t0 = time.perf_counter()
            info = inspect_image_tarball(tarball)
            t1 = time.perf_counter()
            load_image_tarball(client, tarball, info=info)
            t2 = time.perf_counter()
            workdir = tmp_path / f"work{repeat}"
            workdir.mkdir()
            result = run_model(client=client, image=info.image_id, input_dir=input_dir,
                               evaluation_id=f"bench-{repeat}", limits=limits, workdir=workdir)
            if not result.ok:
                raise SystemExit(f"the model run failed: {result}")
            t3 = time.perf_counter()
            score_archive(result.output_tar, testset=testset, truth=truth, track=Track.CONTAINER,
                          options=ScoringOptions(workers=1), workdir=workdir)
            t4 = time.perf_counter()
            remove_image(client, info.image_id)
            t5 = time.perf_counter()
            run = result.timings
            overhead = (t3 - t0) + (t5 - t4) - run.model
            row = (t1 - t0, t2 - t1, run.setup, run.start, run.run, run.collect, run.cleanup, t4 - t3, t5 - t4,
                   run.model, overhead, overhead + (t4 - t3))
            rows.append(row)
            print(" ".join(f"{value:8.3f}" for value in row))
        medians = [statistics.median(column) for column in zip(*rows, strict=True)]
        print(" ".join(f"{value:8.3f}" for value in medians), " <- medians (seconds)")
        print(f"overhead beyond the model's own run: {medians[-2]:.2f} s (check, load, start, collect, clean up, "
              f"remove image); with validation + scoring of {args.cases} cases: {medians[-1]:.2f} s")


if __name__ == "__main__":
    main()
