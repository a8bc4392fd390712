"""Operator commands: seed demo data, ensure indexes, generate keys, benchmark."""
