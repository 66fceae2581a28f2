"""What a batch model returns: credits per channel, and how it got them."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from .journeys import Floats

__all__ = ["ChannelCredits"]


@attrs.frozen(eq=False)
class ChannelCredits:
    """Conversions and value credited to each channel by one model.

    ``conversions[i]`` and ``value[i]`` belong to ``channels[i]``; each sums
    to the journeys' total (up to float rounding). ``details`` holds what the
    model can show of its working (weights, removal effects, ...).
    """

    model: str
    channels: tuple[str, ...]
    conversions: Floats
    value: Floats
    details: dict[str, Any] = attrs.field(factory=dict)

    def as_dict(self) -> dict[str, tuple[float, float]]:
        """``{channel: (conversions, value)}``."""
        return {
            name: (float(c), float(v))
            for name, c, v in zip(self.channels, self.conversions, self.value, strict=True)
        }

    def explain(self) -> str:
        """A table of the credits, largest first, and the model's details."""
        order = np.argsort(-self.conversions, kind="stable")
        width = max((len(name) for name in self.channels), default=7)
        lines = [f"model {self.model}", f"{'channel':<{width}}  conversions        value"]
        lines += [
            f"{self.channels[i]:<{width}}  {self.conversions[i]:11.4f}  {self.value[i]:11.4f}"
            for i in order
        ]
        for key, value in self.details.items():
            if isinstance(value, dict):
                shown = ", ".join(f"{k}={v:.6g}" for k, v in value.items())
                lines.append(f"{key}: {shown}")
            elif isinstance(value, int | float | str):
                lines.append(f"{key}: {value}")
        return "\n".join(lines)
