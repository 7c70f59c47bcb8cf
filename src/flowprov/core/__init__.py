"""flowprov's core: store, records, queries, tracking and hashing (see docs/design.md for the layers)."""
