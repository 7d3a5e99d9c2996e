"""Plot a training history (accuracy and loss, training and validation) to a PNG.

Shared by ``keras.utils.plot_history`` and the command line; matplotlib is imported only here,
and only when a plot is drawn (with the non-interactive Agg backend).
"""

from __future__ import annotations

import os


def plot_history(history, path="history.png", title=None, val_label="validation") -> str:
    """Draw accuracy and loss curves per epoch, training and validation, and save them.

    Args:
        history: a ``History`` (from ``fit``) or its ``.history`` dict of lists.
        path: the PNG to write.
        title: a title over both panels.
        val_label: what the ``val_`` curves are called (``"test"`` when they come from the test set).

    Returns:
        the path written.
    """
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    logs = history.history if hasattr(history, "history") else dict(history)
    base = [k for k in logs if not k.startswith("val_") and k not in ("learning_rate", "lr")]
    metrics = [k for k in base if k != "loss"]
    panels = (["accuracy"] if "accuracy" in metrics else metrics[:1]) + (["loss"] if "loss" in logs else [])
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5 * max(1, len(panels)), 4), squeeze=False)
    for ax, key in zip(axes[0], panels):
        values = logs[key]
        epochs = range(1, len(values) + 1)
        ax.plot(epochs, values, "o-", label=f"training {key}")
        if "val_" + key in logs:
            ax.plot(range(1, len(logs["val_" + key]) + 1), logs["val_" + key], "s--", label=f"{val_label} {key}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    from nerve._atomic import atomic_write

    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return path
