"""Proof-of-stake trading (arXiv 2207.12581, reconstructed model): HJB by a monotone upwind scheme, closed forms, stake parity."""
