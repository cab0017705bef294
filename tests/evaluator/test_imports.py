"""evaluator/ is pure: importing every module of it (the CLI included) imports neither torch, Django, nor
reference_models."""

import subprocess
import sys

CHECK = """
import importlib, pkgutil, sys
import evaluator
for module in pkgutil.walk_packages(evaluator.__path__, "evaluator."):
    if module.name != "evaluator.__main__" and not module.name.endswith(".phantoms.__main__"):
        importlib.import_module(module.name)
print(sorted({name.split(".")[0] for name in sys.modules} & {"torch", "django", "reference_models"}))
"""


def test_evaluator_imports_neither_torch_nor_django_nor_reference_models():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
