"""jaxnas: vectorized neural architecture search in JAX.

Layers (lower never imports higher): spaces -> nn -> train / benchmarks / graph / generators
-> search -> cli.
"""

__version__ = "0.1.0"
