"""The `contingency` command: the CLI over the HTTP API, and `contingency up`, the local stack.

Nothing imports this package: it sits on top of everything else.
"""
