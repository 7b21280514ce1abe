"""Data sources: one declaration per kind (`<kind>_kind.py`); the digits are loaded by the data stage."""
