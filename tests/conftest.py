"""Settings shared by every test package.

Hypothesis runs derandomized by default, so that CI and every local run try the same examples (a property test
must not turn CI red on a new random draw). ``HYPOTHESIS_PROFILE=explore`` searches afresh with more examples;
put a failure it finds into a test with ``@example``.

Torch and BLAS threads are set explicitly (one each unless the environment says otherwise, before anything
imports torch or numpy's BLAS), here and in every process the tests start, which inherits the environment: torch
jobs running side by side on a small machine must not each start one thread per core.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from hypothesis import settings

settings.register_profile("default", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=500, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
