"""Unit tests for the API machinery."""
