"""Readers that turn inputs into record batches (see base.py for the contract)."""
