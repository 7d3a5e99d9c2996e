import pytest

import nerve

DEVICES = ["cpu"] + (["cuda"] if nerve.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    """Every test that takes ``device`` runs on the CPU, and on the GPU when there is one."""
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    nerve.manual_seed(0)
    yield
