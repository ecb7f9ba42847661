"""neos: neural-network observables trained for the sensitivity of a full HistFactory analysis.

The statistics (HistFactory models, fits, CLs) live in :mod:`relaxed`; neos adds the data,
networks, differentiable histograms from network outputs, losses, training and the ``neos``
command line. Importing :mod:`neos` does not import JAX; its submodules do.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
