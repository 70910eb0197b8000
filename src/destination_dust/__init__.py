"""Airbyte destination for Dust: records in, documents or tables out."""

__version__ = "0.1.0"
