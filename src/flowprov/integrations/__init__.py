"""Adapters that turn a workflow manager's events and files into recorder calls."""
