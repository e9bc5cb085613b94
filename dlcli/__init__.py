"""dlcli: neural networks from scratch in NumPy, trained from a YAML file."""

__version__ = "0.1.0"
