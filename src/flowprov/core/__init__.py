"""flowprov's core: store, records, queries, tracking and hashing (see DESIGN.md for the layers)."""
