"""Foundation: settings, logging, tracing, metrics plumbing, YAML documents and the engine's ids.

Nothing here imports the rest of the engine: every other package may build on it.
"""
