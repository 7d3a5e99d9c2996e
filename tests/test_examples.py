"""Every script in examples/ runs to the end on a small slice of Fashion-MNIST and prints an accuracy.

Each runs in a subprocess, in a fresh folder, with ``NERVE_LIMIT`` (images per set) and
``NERVE_EPOCHS`` set so it takes seconds; the examples honour both (see their docstrings).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEBIAN = "/usr/share/datasets/fashion-mnist"

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(DEBIAN, "t10k-images-idx3-ubyte.gz")),
                                reason="Debian's dataset-fashion-mnist package is not installed")

# example -> (the line that carries the accuracy, the least accuracy (%) the slice must reach, NERVE_LIMIT)
EXPECT = {
    # the article's softmax + CrossEntropyLoss + SGD(lr=0.01) and the tutorial's SGD(lr=1e-3) learn slowly
    # by design: on a slice they only have to finish and report
    "article_pytorch.py": (r"final test accuracy: ([\d.]+)%", None, 1000),
    "pytorch_quickstart.py": (r"Accuracy: ([\d.]+)%", None, 1000),
    "raw_tensors.py": (r"final test accuracy: ([\d.]+)%", 50, 1000),
    "image_folder.py": (r"final validation accuracy: ([\d.]+)%", 15, 300),
}
GENERIC = r"accuracy[^\d\n]*([\d.]+)"


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    """A data/ folder with Fashion-MNIST in torchvision's layout, shared by the examples."""
    root = tmp_path_factory.mktemp("shared")
    raw = root / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in os.listdir(DEBIAN):
        if name.endswith(".gz"):
            shutil.copy(os.path.join(DEBIAN, name), raw / name)
    return root / "data"


def _scripts():
    return sorted(p.name for p in EXAMPLES.glob("*.py"))


@pytest.mark.parametrize("script", _scripts())
def test_example_runs_on_a_slice(script, tmp_path, fashion):
    source = (EXAMPLES / script).read_text()
    if "NERVE_LIMIT" not in source:
        pytest.skip(f"{script} has no NERVE_LIMIT switch for a short run")
    (tmp_path / "data").symlink_to(fashion, target_is_directory=True)
    pattern, least, limit = EXPECT.get(script, (GENERIC, None, 1000))
    env = {**os.environ, "NERVE_LIMIT": str(limit), "NERVE_EPOCHS": "1", "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=240)
    assert r.returncode == 0, f"{script} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr
    found = re.findall(pattern, r.stdout, flags=re.IGNORECASE)
    assert found, f"{script} printed no accuracy:\n{r.stdout[-2000:]}"
    if least is not None:
        accuracy = float(found[-1])
        assert accuracy >= least, f"{script}: {accuracy}% on the slice\n{r.stdout[-2000:]}"
    if script == "pytorch_quickstart.py":
        assert (tmp_path / "model.pth").exists()
        assert 'Predicted: "' in r.stdout and "Shape of X [N, C, H, W]: " in r.stdout
