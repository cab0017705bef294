"""Settings shared by every test package.

Hypothesis runs derandomized by default, so that CI and every local run try the same examples (a property test
must not turn CI red on a new random draw). ``HYPOTHESIS_PROFILE=explore`` searches afresh with more examples;
put a failure it finds into a test with ``@example``.
"""

import os

from hypothesis import settings

settings.register_profile("default", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=500, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
