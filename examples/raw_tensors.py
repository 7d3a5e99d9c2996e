"""The engine on its own: a 784-128-10 network from raw tensor operations, trained on Fashion-MNIST.

No layers, no loss classes, no optimizer: the weights are tensors with ``requires_grad=True``,
the forward pass is ``x @ W1 + b1``, ReLU, ``x @ W2 + b2``, log-softmax and the negative
log-likelihood written out, ``backward()`` fills ``.grad``, and plain SGD updates the weights
under ``no_grad`` (halving the learning rate after each epoch). It prints the test accuracy after
each epoch.

    python examples/raw_tensors.py                       # 3 epochs: 84.6% test accuracy
    python examples/raw_tensors.py --epochs 1 --limit 5000
"""

import argparse
import os
import time

import nerve
from nerve.vision.datasets import FashionMNIST

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--epochs", type=int, default=int(os.environ.get("NERVE_EPOCHS", 3)))
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--limit", type=int, default=os.environ.get("NERVE_LIMIT"), help="use only the first N training and test images")
parser.add_argument("--device", default="cuda" if nerve.cuda.is_available() else "cpu")
parser.add_argument("--data", default="data", help="where the dataset files are kept")
args = parser.parse_args()
nerve.manual_seed(0)
dev = args.device


def load(train):
    ds = FashionMNIST(args.data, train=train, download=True)
    x = ds.data.reshape(-1, 784).float() / 255  # uint8 (N, 28, 28) -> float32 (N, 784) in [0, 1]
    y = ds.targets
    if args.limit:
        x, y = x[:args.limit], y[:args.limit]
    return x.to(dev), y.to(dev)


x_train, y_train = load(True)
x_test, y_test = load(False)

# He initialisation for the ReLU layer, small for the output layer
W1 = (nerve.randn(784, 128, device=dev) * (2 / 784) ** 0.5).requires_grad_()
b1 = nerve.zeros(128, device=dev, requires_grad=True)
W2 = (nerve.randn(128, 10, device=dev) * (1 / 128) ** 0.5).requires_grad_()
b2 = nerve.zeros(10, device=dev, requires_grad=True)
params = [W1, b1, W2, b2]


def forward(x):
    h = (x @ W1 + b1).relu()
    logits = h @ W2 + b2
    return logits - logits.logsumexp(dim=1, keepdim=True)  # log-softmax


def nll(log_probs, y):
    return -log_probs[nerve.arange(len(y), device=dev), y].mean()


for epoch in range(args.epochs):
    t0 = time.perf_counter()
    lr = args.lr * 0.5 ** epoch  # plain SGD settles better with a decaying step
    perm = nerve.randperm(len(x_train), device=dev)
    for i in range(0, len(x_train), args.batch_size):
        idx = perm[i:i + args.batch_size]
        loss = nll(forward(x_train[idx]), y_train[idx])
        for p in params:
            p.grad = None
        loss.backward()
        with nerve.no_grad():
            for p in params:
                p -= lr * p.grad
    with nerve.no_grad():
        log_probs = forward(x_test)
        test_loss = nll(log_probs, y_test).item()
        accuracy = (log_probs.argmax(1) == y_test).float().mean().item()
    print(f"epoch {epoch + 1}: train loss {loss.item():.4f}, test loss {test_loss:.4f}, "
          f"test accuracy {accuracy:.2%} ({time.perf_counter() - t0:.1f}s)")
print(f"final test accuracy: {accuracy:.2%}")
