"""Repository tools run from a checkout (`python -m scripts.<name>`), not shipped in the package."""
