"""Mechanism analyses (transaction fee mechanisms): one declaration per kind (`<name>_kind.py`) beside pure
numpy implementations; no torch."""
