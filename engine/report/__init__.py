"""Tables, figures, the paper index and computed claims (no torch)."""
