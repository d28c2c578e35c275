"""Shared plumbing of the contingency engine: settings, logging, the Temporal connection."""
