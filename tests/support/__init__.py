"""Helpers shared by the test suite (one place; test modules never import each other)."""
