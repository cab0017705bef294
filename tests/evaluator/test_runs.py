import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evaluator.runs import BoundaryCounter, RunIndex, encode_runs


@given(arrays(np.uint8, st.integers(1, 300), elements=st.integers(0, 1)))
def test_encode_runs_roundtrip(mask):
    runs = encode_runs(mask)
    rebuilt = np.zeros(mask.size, np.uint8)
    for s, e in zip(runs.starts, runs.ends, strict=True):
        assert s < e
        rebuilt[s:e] = 1
    assert np.array_equal(rebuilt, mask)
    assert runs.voxels == int(mask.sum())


@settings(max_examples=200)
@given(
    arrays(np.uint8, st.integers(1, 400), elements=st.integers(0, 1)),
    st.data(),
)
def test_streamed_overlaps_equal_direct_counts(pred, data):
    n = pred.size
    truth = [data.draw(arrays(np.uint8, n, elements=st.integers(0, 1))) for _ in range(3)]
    index = RunIndex.build({f"t{i}": encode_runs(t) for i, t in enumerate(truth)})
    counter = BoundaryCounter(index.boundaries)
    chunk = data.draw(st.sampled_from([8, 16, 64, 512]))
    for start in range(0, n, chunk):
        counter.feed(pred[start : start + chunk])
    overlaps = index.overlaps(counter.prefix())
    assert counter.total == int(pred.sum())
    for i, t in enumerate(truth):
        assert overlaps[f"t{i}"] == int(np.count_nonzero(pred & t))


def test_fortran_order_matches_nifti_file_order():
    mask = np.zeros((3, 4, 2), np.uint8)
    mask[1, 0, 0] = 1  # flat Fortran index 1
    mask[0, 0, 1] = 1  # flat Fortran index 12
    runs = encode_runs(mask)
    assert runs.starts.tolist() == [1, 12] and runs.ends.tolist() == [2, 13]
