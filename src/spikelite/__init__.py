"""spikelite: compress spiking neural networks and measure what it buys on hardware."""

from spikelite.errors import MissingExtraError, SpikeliteError

__version__ = "0.1.0"
__all__ = ["MissingExtraError", "SpikeliteError", "__version__"]
