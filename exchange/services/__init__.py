"""Use cases: one module per family, each function taking a Session first."""
