"""Matplotlib figures for training runs: the summary figure and the training animation.

Both write atomically (a temporary file, then a rename) and use the non-interactive Agg
backend, so they work on machines without a display.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import animation  # noqa: E402

__all__ = ["plot_histograms", "save_summary", "save_animation"]

_COLOURS = {
    "signal": "tab:red",
    "background": "tab:blue",
    "background_up": "tab:cyan",
    "background_down": "tab:purple",
}


def _atomic(path: Path, save: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        save(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plot_histograms(
    ax: Any, hists: Mapping[str, Sequence[float]], bins: Sequence[float], title: str = ""
) -> Any:
    """Step histograms of the samples (HEP style), one line per sample.

    Example:
        >>> fig, ax = plt.subplots()
        >>> _ = plot_histograms(ax, {"signal": [1.0, 2.0]}, [0.0, 0.5, 1.0])
        >>> ax.get_xlabel()
        'network output'
        >>> plt.close(fig)
    """
    edges = np.asarray(bins, dtype=float)
    for name, counts in hists.items():
        ax.stairs(np.asarray(counts), edges, label=name, color=_COLOURS.get(name), lw=1.8)
    ax.set_xlabel("network output")
    ax.set_ylabel("expected events")
    ax.legend(fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    return ax


def save_summary(path: str | os.PathLike[str], result: Mapping[str, Any]) -> None:
    """Loss and soft expected CLs against the training step, and the hard test histograms."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    steps = result["steps"]
    axes[0].plot(steps, result["loss"], color="k")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel(f"loss ({result['config']['loss']})")
    axes[1].plot(steps, result["cls_soft"], color="tab:green", label="soft (train)")
    axes[1].axhline(result["cls_hard_test"], color="k", ls="--", label="hard (test)")
    axes[1].axhline(0.05, color="tab:red", ls=":", label="0.05")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel(r"expected CL$_s$ ($\mu$ = 1)")
    axes[1].legend(fontsize="small", frameon=False)
    plot_histograms(
        axes[2], result["hard_histograms_test"], result["bins"], "test sample, hard histograms"
    )
    fig.tight_layout()
    _atomic(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def save_animation(
    path: str | os.PathLike[str], frames: Sequence[Mapping[str, Any]], grid: np.ndarray
) -> None:
    """The training animation: the network output over the plane, the soft histograms and
    the loss against the step, one frame per step (a GIF written with Pillow)."""
    fig, (ax_map, ax_hist, ax_loss) = plt.subplots(1, 3, figsize=(12, 3.8))
    steps = [f["step"] for f in frames]
    values = [f["loss"] for f in frames]

    def draw(k: int) -> list[Any]:
        frame = frames[k]
        for ax in (ax_map, ax_hist, ax_loss):
            ax.clear()
        ax_map.contourf(grid[..., 0], grid[..., 1], frame["surface"], levels=20, cmap="coolwarm")
        ax_map.set_xlabel("$x_1$")
        ax_map.set_ylabel("$x_2$")
        ax_map.set_title("network output")
        plot_histograms(ax_hist, frame["hists"], frame["bins"], "soft histograms")
        ax_loss.plot(steps[: k + 1], values[: k + 1], color="k")
        ax_loss.set_xlim(steps[0], max(steps[-1], steps[0] + 1))
        ax_loss.set_xlabel("step")
        ax_loss.set_ylabel("loss")
        fig.tight_layout()
        return []

    anim = animation.FuncAnimation(fig, draw, frames=len(frames), blit=False)
    writer = animation.PillowWriter(fps=4)
    _atomic(Path(path), lambda tmp: anim.save(tmp, writer=writer))
    plt.close(fig)
