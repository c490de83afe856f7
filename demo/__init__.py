"""`make demo`: the charm against a real local control plane (see __main__.py)."""
