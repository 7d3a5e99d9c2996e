"""Whole PyTorch programs, written once and run on PyTorch and on nerve with only the import changed.

nerve starts from PyTorch's initial weights (through ``load_state_dict``) and sees the same
batches, so every step's loss must agree.
"""

import warnings

import numpy as np
import pytest

pytest.importorskip("torch")

# The article's program ("Very Short Intro to Neural Networks"): Flatten, Linear(784, 10), Softmax,
# CrossEntropyLoss, SGD(lr=0.01).
ARTICLE = """
{imports}
from {lib}.nn import Sequential, Flatten, Linear, Softmax, CrossEntropyLoss
from {lib}.optim import SGD

model = Sequential(
    Flatten(),
    Linear(784, 10),
    Softmax())
INITIAL = {{k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}}
if INIT is not None:
    model.load_state_dict(INIT)

loss_fn = CrossEntropyLoss()
optimizer = SGD(model.parameters(), lr=0.01)
LOSSES = []
for epoch in range(1):
    for i, (X, y) in enumerate(BATCHES):
        X, y = torch.tensor(X), torch.tensor(y)
        # Compute prediction and loss
        out = model(X)
        loss = loss_fn(out, y)
        # Backpropagation
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        LOSSES.append(loss.item())
FINAL = {{k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}}
"""

# PyTorch's Quickstart model and its train / test loops.
QUICKSTART = """
{imports}
from {lib} import nn

device = "cpu"


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28*28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork().to(device)
INITIAL = {{k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}}
if INIT is not None:
    model.load_state_dict(INIT)

loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
LOSSES = []


def train(dataloader, model, loss_fn, optimizer):
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        X, y = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)

        # Compute prediction error
        pred = model(X)
        loss = loss_fn(pred, y)

        # Backpropagation
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        LOSSES.append(loss.item())


def test(dataloader, model, loss_fn):
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    return test_loss / num_batches, correct


train(BATCHES, model, loss_fn, optimizer)
TEST = test(BATCHES[:2], model, loss_fn)
FINAL = {{k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}}
"""


def _run(template: str, lib: str, batches, init):
    imports = "import torch" if lib == "torch" else "import nerve as torch"
    src = template.format(imports=imports, lib=lib)
    scope = {"BATCHES": batches, "INIT": init}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the article's Softmax() without dim warns on both
        exec(compile(src, f"<{lib} program>", "exec"), scope)
    return scope


def _batches(shape, steps=5, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.uniform(0, 1, (64,) + shape).astype(np.float32), rng.integers(0, 10, 64)) for _ in range(steps)]


@pytest.mark.parametrize("template,shape", [(ARTICLE, (28, 28)), (QUICKSTART, (1, 28, 28))],
                         ids=["article", "quickstart"])
def test_same_losses_step_by_step(template, shape):
    import torch

    torch.manual_seed(0)
    batches = _batches(shape)
    ref = _run(template, "torch", batches, None)
    got = _run(template, "nerve", batches, ref["INITIAL"])
    assert len(got["LOSSES"]) == len(ref["LOSSES"]) == 5
    np.testing.assert_allclose(got["LOSSES"], ref["LOSSES"], rtol=1e-4)
    assert list(got["FINAL"]) == list(ref["FINAL"])
    for k in ref["FINAL"]:
        np.testing.assert_allclose(got["FINAL"][k], ref["FINAL"][k], rtol=1e-4, atol=1e-6, err_msg=k)
    if "TEST" in ref:
        np.testing.assert_allclose(got["TEST"][0], ref["TEST"][0], rtol=1e-4)
        assert got["TEST"][1] == ref["TEST"][1]


def test_losses_actually_change():
    """Guard against a vacuous comparison: training moves the loss."""
    import torch

    torch.manual_seed(1)
    # labels that can be learnt: the brightest of the first ten pixels
    batches = [(x, x.reshape(64, -1)[:, :10].argmax(1)) for x, _ in _batches((1, 28, 28), steps=3)] * 4
    got = _run(QUICKSTART.replace("lr=1e-3", "lr=0.1"), "nerve", batches, None)
    assert got["LOSSES"][-1] < got["LOSSES"][0] - 0.02
