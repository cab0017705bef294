"""Real containers through the Engine API (Podman's service here): a good model and models that misbehave.

Every misbehaving run must end with the right reason, leave nothing behind, and leave the
engine able to run a good model right after (:func:`assert_engine_healthy`).
"""

from __future__ import annotations

import dataclasses
import gzip
import socket
import threading
import time
from pathlib import Path

import docker
import pytest

from covid_triage.containers.sandbox import LABEL_EVALUATION
from evaluator.archive import read_archive
from evaluator.problems import InvalidInput
from evaluator.scoring import ScoringOptions, Track, score_archive
from evaluator.testset import TestSet as LoadedTestSet
from evaluator.truth import build_truth
from evaluator.worklist import SimulationSize
from leaderboard.containers import (
    FailureReason,
    ImageLoadError,
    RunResult,
    inspect_image_tarball,
    load_image_tarball,
    remove_image,
    remove_leftovers,
    run_model,
)

from .archives import write_archive
from .conftest import GOOD_SCRIPT, LIMITS, ImageFactory, image_present

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leftovers")]


def run(engine: docker.DockerClient, image: str, input_dir: Path, workdir: Path, *, evaluation_id: str,
        **limits) -> RunResult:
    return run_model(client=engine, image=image, input_dir=input_dir, evaluation_id=evaluation_id,
                     limits=dataclasses.replace(LIMITS, **limits), workdir=workdir)


def read_output(result: RunResult, testset: LoadedTestSet, workdir: Path):
    assert result.output_tar is not None
    extract = workdir / "extract"
    extract.mkdir()
    ids = [case.case_id for case in testset.cases]
    return read_archive(result.output_tar, workdir=extract, expected_case_ids=ids, known_case_ids=ids)


def assert_engine_healthy(engine: docker.DockerClient, good_image: str, input_dir: Path, workdir: Path) -> None:
    assert engine.ping()
    follow_up = workdir / "follow-up"
    follow_up.mkdir()
    result = run(engine, good_image, input_dir, follow_up, evaluation_id="follow-up")
    assert result.ok, result


def test_good_model_from_a_tarball(engine: docker.DockerClient, make_image: ImageFactory, input_dir: Path,
                                   testset: LoadedTestSet, workdir: Path) -> None:
    tag = make_image("tarball", GOOD_SCRIPT + "# a distinct image: it gets removed\n")
    tarball = workdir / "model.tar"
    with open(tarball, "wb") as handle:
        for chunk in engine.images.get(tag).save(named=True):
            handle.write(chunk)
    image_id = engine.images.get(tag).id
    assert image_present(engine, image_id)
    assert remove_image(engine, image_id)
    assert not image_present(engine, image_id)

    info = inspect_image_tarball(tarball)
    assert load_image_tarball(engine, tarball, info=info) == image_id
    assert info.image_id == image_id and info.user == "1000:1000"
    result = run(engine, info.image_id, input_dir, workdir, evaluation_id="good-1")
    assert result.ok, result
    assert (result.reason, result.exit_code, result.message) == (None, 0, "finished")
    assert "model done" in result.logs and not result.logs_truncated
    extracted = read_output(result, testset, workdir)
    assert set(extracted.predictions) == {case.case_id for case in testset.cases}
    assert {p.covid_probability for p in extracted.predictions.values()} == {0.25}
    assert result.timings.model <= result.timings.run <= result.timings.total

    # the same image as .tar.gz: Podman's API loads plain tar only, so it is inflated on the way
    assert remove_image(engine, image_id)
    packed = workdir / "model.tar.gz"
    packed.write_bytes(gzip.compress(tarball.read_bytes(), compresslevel=1))
    assert load_image_tarball(engine, packed, info=inspect_image_tarball(packed)) == image_id
    assert remove_image(engine, image_id)


def test_tarball_the_engine_refuses(engine: docker.DockerClient, tmp_path: Path) -> None:
    path = write_archive(tmp_path / "broken.tar", layer_data=b"not a tar layer" * 100)
    info = inspect_image_tarball(path)  # the structure is fine; the layer is not
    with pytest.raises(ImageLoadError, match="could not load|loaded"):
        load_image_tarball(engine, path, info=info)


def test_network_is_unreachable(engine: docker.DockerClient, make_image: ImageFactory, input_dir: Path,
                                good_image: str, workdir: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    connections: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, address = listener.accept()
            except OSError:
                continue
            connections.append(address)
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    script = f"""echo "interfaces: $(ls /sys/class/net | tr '\\n' ' ')"
echo "routes: $(tail -n +2 /proc/net/route | wc -l)"
if echo hello | nc -w 2 127.0.0.1 {port}; then echo "CONNECTED"; else echo "NO CONNECTION"; fi
{GOOD_SCRIPT}"""
    image = make_image("network", script)
    try:
        result = run(engine, image, input_dir, workdir, evaluation_id="network")
        assert result.ok, result
        assert "interfaces: lo " in result.logs and "routes: 0" in result.logs
        assert "NO CONNECTION" in result.logs and "CONNECTED\n" not in result.logs.replace("NO CONNECTION", "")
        assert not connections
        # control: with the host's network the same script does connect, so the check above can fail
        control = engine.containers.run(image, network_mode="host", detach=True,
                                        entrypoint=["/bin/sh", "-c", script.split("\n" + GOOD_SCRIPT)[0]])
        try:
            control.wait(timeout=30)
            assert "CONNECTED" in control.logs().decode().replace("NO CONNECTION", "")
        finally:
            control.remove(force=True)
        deadline = time.monotonic() + 5
        while not connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert connections
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
    assert_engine_healthy(engine, good_image, input_dir, workdir)


def test_memory_limit(engine: docker.DockerClient, make_image: ImageFactory, input_dir: Path, good_image: str,
                      workdir: Path) -> None:
    image = make_image("memory", "echo allocating\nexec dd if=/dev/zero of=/dev/null bs=256M count=1\n")
    result = run(engine, image, input_dir, workdir, evaluation_id="memory", memory_bytes=64 * 2**20)
    assert result.reason is FailureReason.MEMORY_LIMIT, result
    assert "memory limit of 64 MiB" in result.message and result.output_tar is None
    assert_engine_healthy(engine, good_image, input_dir, workdir)


def test_fork_bomb_is_held_by_the_pids_limit(engine: docker.DockerClient, make_image: ImageFactory,
                                             input_dir: Path, good_image: str, workdir: Path) -> None:
    # Fork until it fails (in a subshell: a failed fork ends an ash shell), count with built-ins only,
    # clear the sleeps (and wait until init has reaped them), start a real fork bomb in a background
    # subshell (so that a failed fork inside it cannot end this shell), and wait on a FIFO nobody writes
    # (no fork needed).
    script = """mkfifo /tmp/never
( while :; do sleep 60 & done ) 2>/dev/null
set -- /proc/[0-9]*
echo "processes: $#"
kill -9 -1
while set -- /proc/[0-9]*; [ $# -gt 3 ]; do :; done
bomb() { bomb | bomb & }
( bomb ) 2>/dev/null &
echo "bomb started"
while :; do read forever < /tmp/never; done 2>/dev/null
"""
    image = make_image("forkbomb", script)
    result = run(engine, image, input_dir, workdir, evaluation_id="forkbomb", pids=32, cpus=0.5,
                 wall_clock_seconds=4)
    assert result.reason is FailureReason.TIME_LIMIT, (result.exit_code, result.logs)
    processes = int(result.logs.split("processes: ")[1].split()[0])
    assert 20 <= processes <= 32, result.logs  # forks succeeded up to the limit, and no further
    assert "bomb started" in result.logs
    assert_engine_healthy(engine, good_image, input_dir, workdir)


def test_wall_clock_limit(engine: docker.DockerClient, make_image: ImageFactory, input_dir: Path, good_image: str,
                          workdir: Path) -> None:
    image = make_image("slow", "echo started\nsleep 600\n")
    result = run(engine, image, input_dir, workdir, evaluation_id="slow", wall_clock_seconds=2)
    assert result.reason is FailureReason.TIME_LIMIT, result
    assert "wall-clock limit of 2 s" in result.message and "started" in result.logs
    assert 2 <= result.timings.run < 15
    assert_engine_healthy(engine, good_image, input_dir, workdir)


@pytest.mark.parametrize(("name", "script", "expected"), [
    ("output-10gb", "dd if=/dev/zero of=/output/big bs=1M count=10240\n", "bytes to /output"),
    ("output-files", "i=0\nwhile [ $i -lt 500 ]; do : > /output/f$i || exit 1; i=$((i+1)); done\n",
     "50 files and folders to /output"),
])
def test_output_limits(engine: docker.DockerClient, make_image: ImageFactory, input_dir: Path, good_image: str,
                       workdir: Path, name: str, script: str, expected: str) -> None:
    image = make_image(name, script)
    result = run(engine, image, input_dir, workdir, evaluation_id=name)
    assert result.reason is FailureReason.OUTPUT_TOO_BIG, result  # stopped by the tmpfs size, not the wall clock
    assert expected in result.message and result.output_tar is None
    assert "No space left on device" in result.logs
    assert not (workdir / "output.tar").exists()
    assert_engine_healthy(engine, good_image, input_dir, workdir)


def test_malformed_output_fails_in_the_archive_reader(engine: docker.DockerClient, make_image: ImageFactory,
                                                      input_dir: Path, testset: LoadedTestSet, workdir: Path) -> None:
    script = 'printf "case_id,covid_probability\\nc000,banana\\n" > /output/predictions.csv\n'
    result = run(engine, make_image("malformed", script), input_dir, workdir, evaluation_id="malformed")
    assert result.ok, result  # the run itself succeeded: the output is judged by the archive reader
    with pytest.raises(InvalidInput) as caught:
        read_output(result, testset, workdir)
    problems = caught.value.problems
    assert len(problems) == len(testset.cases)  # the bad value, and every case without a row
    assert "'banana'" in str(problems[0]) and all("no row for case" in str(p) for p in problems[1:])


def test_root_images_are_refused(engine: docker.DockerClient, make_image: ImageFactory, input_dir: Path,
                                 good_image: str, workdir: Path) -> None:
    root = make_image("root", GOOD_SCRIPT, user="0:0")
    tarball = workdir / "root.tar"
    with open(tarball, "wb") as handle:
        for chunk in engine.images.get(root).save(named=True):
            handle.write(chunk)
    with pytest.raises(InvalidInput, match="runs as root"):
        inspect_image_tarball(tarball)
    result = run(engine, root, input_dir, workdir, evaluation_id="root")
    assert result.reason is FailureReason.RUNS_AS_ROOT, result

    passwd = "root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\nmodel:x:1001:1001::/tmp:/bin/sh\n"
    hidden_root = make_image("toor", GOOD_SCRIPT, user="toor", passwd=passwd)
    result = run(engine, hidden_root, input_dir, workdir, evaluation_id="toor")
    assert result.reason is FailureReason.RUNS_AS_ROOT and "uid 0" in result.message, result

    named = make_image("named", 'echo "uid=$(id -u)"\n' + GOOD_SCRIPT, user="model", passwd=passwd)
    result = run(engine, named, input_dir, workdir, evaluation_id="named")
    assert result.ok and "uid=1001" in result.logs, result
    assert_engine_healthy(engine, good_image, input_dir, workdir)


def test_nonzero_exit_and_log_truncation(engine: docker.DockerClient, make_image: ImageFactory, input_dir: Path,
                                         good_image: str, workdir: Path) -> None:
    script = "yes flood | head -c 200000\necho 'Traceback: it broke' >&2\nexit 3\n"
    result = run(engine, make_image("exit3", script), input_dir, workdir, evaluation_id="exit3")
    assert (result.reason, result.exit_code) == (FailureReason.EXIT_CODE, 3), result
    assert result.message == "exited with code 3"
    assert result.stderr == "Traceback: it broke\n"  # kept whole, however much went to stdout
    assert result.logs_truncated and result.stdout.startswith("[... ")
    assert result.stdout.endswith("flood\nfl") and len(result.stdout.encode()) <= LIMITS.log_bytes + 100
    assert_engine_healthy(engine, good_image, input_dir, workdir)


def test_labels_are_out_of_reach(engine: docker.DockerClient, make_image: ImageFactory, input_dir: Path,
                                 testset: LoadedTestSet, workdir: Path) -> None:
    script = """echo "INPUT:$(cd /input && find . | sort | tr '\\n' ' ')"
echo "CASES:$(tr '\\n' ' ' < /input/cases.csv)"
echo "FOUND:$(find / \\( -path /proc -o -path /sys \\) -prune -o \\( -name '*lesion*' -o -name '*lung*' \\
  -o -name 'testset.json' -o -name '*.csv' \\) -print 2>/dev/null | tr '\\n' ' ')"
echo "PARENT:$(ls /input/.. | tr '\\n' ' ')"
if touch /input/x 2>/dev/null; then echo "INPUT WRITABLE"; fi
if touch /x 2>/dev/null; then echo "ROOT WRITABLE"; fi
""" + GOOD_SCRIPT
    result = run(engine, make_image("labels", script), input_dir, workdir, evaluation_id="labels")
    assert result.ok, result
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1].split() for line in result.logs.splitlines() if ":" in line}
    ids = [case.case_id for case in testset.cases]
    assert lines["INPUT"] == sorted([".", "./cases.csv"] + [f"./{i}.nii.gz" for i in ids])
    assert lines["CASES"] == ["case_id", *ids]
    assert lines["FOUND"] == ["/input/cases.csv"]  # mounts searched too: no label file anywhere
    assert "lesions" not in lines["PARENT"] and "lungs" not in lines["PARENT"]
    assert "INPUT WRITABLE" not in result.logs and "ROOT WRITABLE" not in result.logs
    # the test set next to the images does hold labels: the check above would see them if mounted
    assert (testset.root / "lesions").is_dir() and (testset.root / "lungs").is_dir()


def test_bad_image(engine: docker.DockerClient, make_image: ImageFactory, input_dir: Path, good_image: str,
                   workdir: Path) -> None:
    missing = make_image("noentry", "true\n", entrypoint='["/no/such/program"]')
    result = run(engine, missing, input_dir, workdir, evaluation_id="noentry")
    assert result.reason is FailureReason.BAD_IMAGE and "/no/such/program" in result.message, result
    result = run(engine, "sha256:" + "0" * 64, input_dir, workdir, evaluation_id="unknown")
    assert result.reason is FailureReason.BAD_IMAGE and "not loaded" in result.message, result
    assert_engine_healthy(engine, good_image, input_dir, workdir)


def test_leftovers_of_a_crashed_run_are_removed(engine: docker.DockerClient, base_image: str, good_image: str,
                                                input_dir: Path, workdir: Path) -> None:
    labels = {LABEL_EVALUATION: "crashed"}
    volume = engine.volumes.create(name="lb-crashed-old-output", labels=labels)
    stale = engine.containers.run(base_image, entrypoint=["sleep", "600"], detach=True, labels=labels,
                                  name="lb-crashed-old-model", network_mode="none",
                                  mounts=[docker.types.Mount(target="/output", source=volume.name, type="volume")])
    result = run(engine, good_image, input_dir, workdir, evaluation_id="crashed")
    assert result.ok, result
    assert not engine.containers.list(all=True, filters={"label": f"{LABEL_EVALUATION}=crashed"})
    assert not engine.volumes.list(filters={"label": f"{LABEL_EVALUATION}=crashed"})
    with pytest.raises(docker.errors.NotFound):
        stale.reload()
    other = engine.containers.run(base_image, entrypoint=["sleep", "600"], detach=True,
                                  labels={LABEL_EVALUATION: "someone-else"}, network_mode="none")
    assert remove_leftovers(engine) >= 1
    with pytest.raises(docker.errors.NotFound):
        other.reload()


def test_container_output_is_scored_like_an_upload(engine: docker.DockerClient, make_image: ImageFactory,
                                                   input_dir: Path, testset: LoadedTestSet, workdir: Path,
                                                   tmp_path: Path) -> None:
    """A model that reads its input: severity from the image's size, probability from the case's position."""
    script = """set -e
n=$(tail -n +2 /input/cases.csv | wc -l)
{ echo "case_id,covid_probability"
  i=0
  tail -n +2 /input/cases.csv | while read id; do
    test -s "/input/$id.nii.gz"
    echo "$id,0.$((9 - i * 9 / n))"; i=$((i + 1))
  done
} > /output/predictions.csv
"""
    result = run(engine, make_image("scored", script), input_dir, workdir, evaluation_id="scored")
    assert result.ok, result
    truth = build_truth(testset, cache_root=tmp_path / "truth")
    document = score_archive(result.output_tar, testset=testset, truth=truth, track=Track.CONTAINER,
                             options=ScoringOptions(n_resamples=50, workers=1,
                                                    worklist_size=SimulationSize(days=5, resamples=3)),
                             workdir=tmp_path)
    assert document["track"] == "container"
    assert document["n_cases"] == len(testset.cases)  # private cases included (the fixture has some)
    assert any(case.distribution.value == "private" for case in testset.cases)
    # COVID-19 cases come first in the tiny test set, so the falling scores rank them first
    assert document["metrics"]["roc_auc_all"] == 1.0
