"""The ``nerve`` command: ``nerve train``, ``nerve predict``, ``nerve info``, ``nerve bench``.

Each subcommand lives in its own module and is imported only when it runs, so ``nerve --help``
and ``nerve info`` stay quick. Mistakes the user can fix are one line on stderr with exit
status 1 (argparse's own usage errors exit 2); they never show a traceback.
"""

from __future__ import annotations

import argparse
import sys

from .common import CLIError, one_line

__all__ = ["main", "CLIError"]

DATASETS = ("mnist", "fashion-mnist")
MODELS = ("linear", "mlp", "cnn")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (and exit status 2, as argparse)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nerve`` command and its subcommands."""
    from nerve import __version__

    p = _Parser(
        prog="nerve",
        description="nerve: neural networks with PyTorch's and Keras's APIs on NumPy (CPU) and CuPy (GPU).",
        epilog="Run 'nerve COMMAND --help' for a command's options.",
    )
    p.add_argument("--version", action="version", version=f"nerve {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser(
        "train", help="train a classifier on MNIST, Fashion-MNIST or a folder of images",
        description="Train an image classifier, show progress and test accuracy after each epoch, and save\n"
        "the model, its history (JSON, CSV) and a plot of the training curves. Ctrl-C stops cleanly\n"
        "and keeps the best model so far; --resume goes on from the last completed epoch.",
        epilog="examples:\n  nerve train --dataset fashion-mnist --model cnn --epochs 3\n"
        "  nerve train --dataset photos/ --model cnn --image-size 64 --epochs 10\n"
        "  nerve train --api keras --model mlp --epochs 2\n  nerve train --resume runs/RUN --epochs 6",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--dataset", default="fashion-mnist", metavar="NAME|FOLDER",
                   help="mnist, fashion-mnist (default), or a folder of images with one subfolder per class")
    t.add_argument("--model", choices=MODELS, default=None,
                   help="linear: the article's network (Flatten, Linear); mlp: two hidden layers; "
                        "cnn: two conv/pool blocks (default: mlp)")
    t.add_argument("--epochs", type=_positive_int, default=None, metavar="N", help="passes over the training set (default: 5)")
    t.add_argument("--batch-size", type=_positive_int, default=None, metavar="N", help="examples per step (default: 64)")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="default: adam (sgd for --model linear)")
    t.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (default: 0.001 for adam/adamw/rmsprop, 0.1 for sgd, 0.01 adagrad, 1.0 adadelta)")
    t.add_argument("--momentum", type=float, default=None, help="momentum for sgd and rmsprop (default: 0)")
    t.add_argument("--device", default=None, help="cpu or cuda (default: cuda when a GPU is available, else cpu)")
    t.add_argument("--seed", type=int, default=None, help="random seed for weights and shuffling (default: 0)")
    t.add_argument("--api", choices=("torch", "keras"), default=None,
                   help="torch: the explicit PyTorch-style loop (default); keras: model.fit through nerve.keras")
    t.add_argument("--out", default=None, metavar="FOLDER",
                   help="where to write the results (default: a new folder under runs/)")
    t.add_argument("--resume", default=None, metavar="RUN",
                   help="continue a run (its folder, or its checkpoint.safetensors) after its last completed epoch")
    t.add_argument("--data-dir", default=None, metavar="FOLDER",
                   help="where MNIST/Fashion-MNIST files are kept (default: data)")
    t.add_argument("--image-size", type=_positive_int, default=None, metavar="PIXELS",
                   help="folder datasets: images are resized and centre-cropped to this size "
                        "(default: 28 for grayscale, 32 for colour)")
    t.add_argument("--val-split", type=_fraction, default=None, metavar="FRACTION",
                   help="folder datasets: fraction held out for validation (default: 0.2)")
    t.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                   help="use only the first N training and N test examples (a quick try)")
    t.add_argument("--no-plot", action="store_true", help="do not write the PNG of the training curves")

    pr = sub.add_parser(
        "predict", help="classify images with a trained model",
        description="Print the most likely classes, with probabilities, for each image (PNG, JPEG, ...) or "
        "every image in a folder. Images are converted to what the model was trained on.",
    )
    pr.add_argument("model", metavar="MODEL", help="a model written by 'nerve train' (a run folder or its model.safetensors)")
    pr.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders of images")
    pr.add_argument("--top", type=_positive_int, default=3, help="how many classes to show per image (default: 3)")
    pr.add_argument("--device", default="cpu", help="cpu (default) or cuda")

    sub.add_parser("info", help="version, devices, array backends and BLAS",
                   description="Show nerve's version, the devices it can use, the array libraries and BLAS.")

    sub.add_parser("bench", help="benchmarks against PyTorch, side by side, as ratios "
                   "(options: nerve bench --help)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ``nerve`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # its options belong to nerve.bench's own parser
        from nerve.bench.__main__ import main as bench_main

        return bench_main(argv[1:]) or 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "train":
            from .train import train_command

            return train_command(args)
        if args.command == "predict":
            from .predict import predict_command

            return predict_command(args)
        if args.command == "info":
            from .info import info_command

            return info_command()
    except CLIError as e:
        print(f"nerve {args.command}: error: {one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nnerve {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    parser.error(f"unknown command {args.command!r}")
    return 2
