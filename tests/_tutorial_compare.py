"""Running a PyTorch tutorial's program on PyTorch and on nerve, and comparing what each prints.

A tutorial's code is written once, as a function of the modules it imports (``modules(lib)``);
``both`` runs it on each library, ``SharedWeights`` gives both runs the same initial weights and
``assert_same_lines`` compares the printed lines, numbers to float32 rounding.
"""

import re
from types import SimpleNamespace

import pytest

import nerve

pytest.importorskip("torch")
import torch as _torch  # noqa: E402  (after the skip)

RTOL = 1e-5  # float32 results after a few hundred steps of the same arithmetic


@pytest.fixture(autouse=True, scope="module")
def torch_on_one_thread():
    """PyTorch's small convolutions run several times faster on one thread on this 2-core machine
    (its OpenMP threads and nerve's share it); the results do not depend on it."""
    threads = _torch.get_num_threads()
    _torch.set_num_threads(1)
    yield
    _torch.set_num_threads(threads)


def modules(lib):
    """What a tutorial imports, from PyTorch or from nerve: the only lines a script changes."""
    if lib is _torch:
        import torch.nn.functional as F
        from torch.utils.data import DataLoader, TensorDataset
    else:
        import nerve.nn.functional as F
        from nerve.utils.data import DataLoader, TensorDataset
    return SimpleNamespace(torch=lib, nn=lib.nn, F=F, optim=lib.optim, DataLoader=DataLoader,
                           TensorDataset=TensorDataset)


class SharedWeights:
    """The PyTorch run (first) records each model's initial weights; the nerve run loads them."""

    def __init__(self):
        self.saved = {}

    def __call__(self, torch, key, model):
        if key not in self.saved:
            self.saved[key] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        else:
            model.load_state_dict({k: torch.tensor(v) for k, v in self.saved[key].items()})
        return model


NUMBER = re.compile(r"-?\d+\.?\d*(?:e[-+]\d+)?")


def normalized(line: str) -> str:
    return re.sub(r" object at 0x[0-9a-f]+", " object", line.replace("torch.", "nerve."))


def assert_same_lines(ref, got, rtol=RTOL, atol=1e-6):
    """The lines agree word for word; their numbers to ``rtol`` and ``atol`` (values that cancel to near
    zero keep only the absolute error of float32 sums) and one unit of the last printed digit."""
    assert len(got) == len(ref), (ref, got)
    for a, b in zip(map(normalized, ref), map(normalized, got)):
        assert NUMBER.sub("#", a) == NUMBER.sub("#", b), f"\ntorch: {a}\nnerve: {b}"
        for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)):
            mant = x.split("e")[0]
            unit = 10.0 ** -(len(mant.split(".")[1]) if "." in mant else 0)
            unit *= 10.0 ** int(x.split("e")[1]) if "e" in x else 1.0
            assert abs(float(x) - float(y)) <= rtol * abs(float(x)) + atol + unit * 1.001, f"\ntorch: {a}\nnerve: {b}"


def both(tutorial, *args, **kwargs):
    """Run ``tutorial(modules, ...)`` on PyTorch, then on nerve; return both results."""
    _torch.manual_seed(0)
    ref = tutorial(modules(_torch), *args, **kwargs)
    got = tutorial(modules(nerve), *args, **kwargs)
    return ref, got
