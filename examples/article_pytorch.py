"""The PyTorch program of the article "Very Short Intro to Neural Networks", running on nerve.

The article's model, data loading and training loop are below as the article writes them; only
the imports differ (``torch`` -> ``nerve``, ``torchvision`` -> ``nerve.vision``), and the data is
Fashion-MNIST, which ``download=True`` takes from Debian's ``dataset-fashion-mnist`` package
when there is no network (MNIST works the same way where it can be downloaded). As the article
suggests, the accuracy on the test dataset is computed after each epoch and kept for a plot.

    python examples/article_pytorch.py               # the article's 10 epochs: 69.9% test accuracy
    python examples/article_pytorch.py --epochs 1 --limit 5000

Note the article's network ends in ``Softmax()`` and is trained with ``CrossEntropyLoss`` (which
applies a softmax itself), with plain SGD at lr=0.01: it learns, but slowly; that is the
article's program, not a tuned one.
"""

import argparse
import os

import nerve as torch
from nerve.nn import CrossEntropyLoss, Flatten, Linear, Sequential, Softmax
from nerve.optim import SGD
from nerve.utils.data import DataLoader, Subset
from nerve.vision.datasets import FashionMNIST
from nerve.vision.transforms import ToTensor

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--epochs", type=int, default=int(os.environ.get("NERVE_EPOCHS", 10)), help="passes over the training set (the article: 10)")
parser.add_argument("--limit", type=int, default=os.environ.get("NERVE_LIMIT"), help="use only the first N training and test images")
parser.add_argument("--data", default="data", help="where the dataset files are kept")
args = parser.parse_args()
torch.manual_seed(0)

# Defining a network
model = Sequential(
    Flatten(),
    Linear(784, 10),
    Softmax())

# Loading the data
dataset = FashionMNIST(
    root=args.data, train=True, download=True, transform=ToTensor())
test_dataset = FashionMNIST(root=args.data, train=False, download=True, transform=ToTensor())
if args.limit:
    dataset = Subset(dataset, range(min(args.limit, len(dataset))))
    test_dataset = Subset(test_dataset, range(min(args.limit, len(test_dataset))))
dataloader = DataLoader(
    dataset, batch_size=64, shuffle=True)
test_dataloader = DataLoader(test_dataset, batch_size=1000)


def test_accuracy():
    correct = 0
    with torch.no_grad():
        for X, y in test_dataloader:
            correct += (model(X).argmax(1) == y).sum().item()
    return correct / len(test_dataset)


# Training the network
loss_fn = CrossEntropyLoss()
optimizer = SGD(model.parameters(), lr=0.01)
accuracies = []
for epoch in range(args.epochs):
    for i, (X, y) in enumerate(dataloader):
        # Compute prediction and loss
        out = model(X)
        loss = loss_fn(out, y)
        # Backpropagation
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    accuracies.append(test_accuracy())
    print(f"epoch {epoch + 1}: loss {loss.item():.4f}, test accuracy {accuracies[-1]:.2%}")

# Making predictions: out = model(inp), one row of probabilities per image
inp = torch.stack([test_dataset[i][0] for i in range(20)])
out = model(inp)
print(f"predictions for 20 test images: {out.argmax(1).tolist()} (output {tuple(out.shape)})")
print(f"final test accuracy: {accuracies[-1]:.2%}")
