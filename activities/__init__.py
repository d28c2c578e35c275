"""Everything that touches the world: the ledger writer and the notification dispatch."""
