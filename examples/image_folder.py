"""Training from a folder of images, as the article loads "your own images" (torchvision style).

The article's data pipeline, on nerve::

    transform = Compose([Resize(255), CenterCrop(224), ToTensor()])
    dataset = ImageFolder('path', transform=transform)
    dataloader = DataLoader(dataset, batch_size=32, shuffle=True)

with smaller sizes (Resize(36), CenterCrop(32)) so that a small CNN trains in seconds on a CPU.
A fifth of the images is held out (``random_split``) to measure the accuracy after each epoch.

    python examples/image_folder.py PATH                # PATH/<class name>/<image files>
    python examples/image_folder.py                     # makes a demo folder first: 100 PNGs per
                                                        # class cut from Fashion-MNIST's test set;
                                                        # 5 epochs: 72.0% validation accuracy
    python examples/image_folder.py --per-class 20 --epochs 1
"""

import argparse
import os

import nerve as torch
from nerve import nn
from nerve.utils.data import DataLoader, random_split
from nerve.vision.datasets import FashionMNIST, ImageFolder
from nerve.vision.transforms import CenterCrop, Compose, Resize, ToTensor


def make_demo_folder(root: str, per_class: int, data: str = "data") -> str:
    """Write ``per_class`` PNGs of each Fashion-MNIST class (from its test set) under root/<class>/."""
    test = FashionMNIST(data, train=False, download=True)
    counts = {c: 0 for c in test.classes}
    for image, label in test:  # without a transform, items are (PIL image, int), as torchvision's
        name = test.classes[label]
        if counts[name] < per_class:
            folder = os.path.join(root, name.replace("/", "-"))
            os.makedirs(folder, exist_ok=True)
            image.save(os.path.join(folder, f"{counts[name]:04d}.png"))
            counts[name] += 1
        if all(n >= per_class for n in counts.values()):
            break
    return root


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 32x32 -> 16x16
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 16x16 -> 8x8
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(32 * 8 * 8, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", help="a folder with one subfolder of images per class")
    parser.add_argument("--per-class", type=int, default=int(os.environ.get("NERVE_LIMIT", 1000)) // 10, help="demo folder: images per class")
    parser.add_argument("--epochs", type=int, default=int(os.environ.get("NERVE_EPOCHS", 5)))
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    torch.manual_seed(0)
    path = args.path or make_demo_folder(os.path.join("data", f"fashion-folder-{args.per_class}"), args.per_class)

    transform = Compose([Resize(36), CenterCrop(32), ToTensor()])
    dataset = ImageFolder(path, transform=transform)
    print(f"{len(dataset)} images of {len(dataset.classes)} classes in {path}: {', '.join(dataset.classes)}")
    train_set, val_set = random_split(dataset, [0.8, 0.2], generator=torch.Generator().manual_seed(0))
    dataloader = DataLoader(train_set, batch_size=32, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=256)

    model = SmallCNN(len(dataset.classes))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        model.train()
        for X, y in dataloader:
            loss = loss_fn(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for X, y in val_loader:
                correct += (model(X).argmax(1) == y).sum().item()
        accuracy = correct / len(val_set)
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}, validation accuracy {accuracy:.2%}")
    print(f"final validation accuracy: {accuracy:.2%}")


if __name__ == "__main__":
    main()
