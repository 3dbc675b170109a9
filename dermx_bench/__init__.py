"""dermx-bench: the DermX dermatologists' annotations as a reference for explanation maps.

Importing the package is light: numpy, torch and friends are imported by the
modules that use them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
