"""Cost before work: a run's time estimated from its first batch, and the refusal of slow CPU runs.

Perturbation methods run the model hundreds of times per image (ScoreCAM once per
channel of the target layer, Kernel SHAP once per coalition), and gradient methods with
many steps or samples are not cheap either. A scoring run therefore times the first
batch it computes, extrapolates linearly to the images left
(:func:`estimate_cost`), reports the estimate, and on a CPU refuses a run estimated over
:data:`SLOW_SECONDS` unless ``allow_slow`` (:func:`check_cost`; the CLI's
``--allow-slow``). The first batch includes one-off start-up work, so the estimate errs
high.
"""

from __future__ import annotations

from dataclasses import dataclass

from dermx_bench.core.errors import DermxError

SLOW_SECONDS = 3600.0
"""Longest estimated run on a CPU that starts without ``allow_slow``: one hour."""


class SlowRunError(DermxError):
    """A CPU run estimated over :data:`SLOW_SECONDS` without ``allow_slow``."""


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"12 min"``, ``"3 h 05 min"``."""
    s = max(0.0, float(seconds))
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    hours, minutes = divmod(round(s / 60), 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True)
class CostEstimate:
    """A run's estimated time: ``batch_seconds`` measured for ``batch_images``, ``images_left`` after them."""

    method: str
    device: str
    batch_images: int
    batch_seconds: float
    images_left: int
    passes_per_image: int

    @property
    def seconds_per_image(self) -> float:
        return self.batch_seconds / max(1, self.batch_images)

    @property
    def total_seconds(self) -> float:
        """The measured batch plus the images left at the measured rate."""
        return self.batch_seconds + self.seconds_per_image * self.images_left

    def describe(self) -> str:
        n = self.batch_images + self.images_left
        return (f"{self.method}: about {format_duration(self.total_seconds)} for {n} image(s) on {self.device} "
                f"({self.seconds_per_image:.2f} s per image measured on the first batch of {self.batch_images}; "
                f"~{self.passes_per_image} model pass(es) per image)")


def estimate_cost(method: str, device: str, batch_images: int, batch_seconds: float, images_left: int,
                  passes_per_image: int = 1) -> CostEstimate:
    """Linear extrapolation of one measured batch to the images left."""
    if batch_images < 1 or batch_seconds < 0 or images_left < 0:
        raise ValueError(f"expected a measured batch (images >= 1, seconds >= 0) and images_left >= 0, got "
                         f"{batch_images}, {batch_seconds}, {images_left}")
    return CostEstimate(method, device, batch_images, float(batch_seconds), images_left, passes_per_image)


def check_cost(estimate: CostEstimate, allow_slow: bool, limit: float | None = None) -> None:
    """Raise SlowRunError for a CPU run estimated over ``limit`` seconds (default
    :data:`SLOW_SECONDS`) unless ``allow_slow``."""
    limit = SLOW_SECONDS if limit is None else limit
    if estimate.device == "cpu" and estimate.total_seconds > limit and not allow_slow:
        raise SlowRunError(
            f"{estimate.describe()}: over the {format_duration(limit)} a CPU run may take without "
            "--allow-slow. Pass --allow-slow to run it anyway, use a GPU (--device cuda), fewer "
            "samples/steps (--method-option), or a cheaper method (gradcam)"
        )
