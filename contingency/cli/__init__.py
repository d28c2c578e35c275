"""The `contingency` command line."""
