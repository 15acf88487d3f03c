"""The package's version, in a module of its own so that any layer can name it without importing
the package's `__init__` (which would point an import up the graph)."""

__version__ = "0.1.0"
