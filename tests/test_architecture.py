"""The layering DESIGN.md promises: one module names CuPy, and `import nerve` stays light."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1] / "nerve"


def test_only_the_backend_names_cupy():
    offenders = []
    for path in ROOT.rglob("*.py"):
        if path.name == "backend.py" and path.parent == ROOT:
            continue
        text = path.read_text()
        if re.search(r"^\s*(import cupy|from cupy|import cupyx|from cupyx)", text, re.M) or "import_module(\"cupy" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], f"only nerve/backend.py may import CuPy; found it in {offenders}"


def test_import_nerve_loads_no_heavy_or_upper_modules():
    code = (
        "import sys, nerve; "
        "bad = [m for m in ('PIL', 'matplotlib', 'cupy', 'torch', 'nerve.nn', 'nerve.keras', 'nerve.vision', "
        "'nerve.optim', 'nerve.utils.data', 'numpy.random') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_engine_modules_do_not_import_the_layers_above_at_module_level():
    engine = ["backend.py", "dtypes.py", "autograd.py", "ops.py", "tensor.py", "creation.py", "functions.py",
              "random.py"]
    for name in engine:
        text = (ROOT / name).read_text()
        top_level = [ln for ln in text.splitlines() if ln.startswith(("import ", "from "))]
        for ln in top_level:
            assert not re.search(r"\b(nn|optim|keras|vision|utils|cli)\b", ln), f"{name}: {ln}"
