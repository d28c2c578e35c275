"""The HTTP API of the engine: reports in, incidents and the ledger out, decisions through
the workflow's updates. Built by :func:`api.app.create_app`."""
