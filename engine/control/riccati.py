"""Lyapunov and algebraic Riccati equations, solved here (numpy only; tests compare with scipy).

- `lyapunov(F, M)`: the P with F'P + PF + M = 0 (F Hurwitz), by the Kronecker linear system.
- `newton_kleinman(A, B, Q, R, K0)`: the stabilising solution of A'P + PA - PBR^{-1}B'P + Q = 0 by
  Newton-Kleinman iteration: policy evaluation (a Lyapunov equation for the gain K) then policy
  improvement K <- R^{-1}B'P, from a stabilising K0 (A - BK0 Hurwitz). Converges quadratically.

A discount rate rho enters as A - (rho/2) I (engine/control/lq.py).
"""
from __future__ import annotations

import numpy as np


def is_hurwitz(F: np.ndarray) -> bool:
    return bool(np.max(np.linalg.eigvals(F).real) < 0)


def lyapunov(F: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Solve F'P + PF + M = 0 for symmetric P (F Hurwitz): (I (x) F' + F' (x) I) vec P = -vec M."""
    n = F.shape[0]
    eye = np.eye(n)
    op = np.kron(eye, F.T) + np.kron(F.T, eye)
    P = np.linalg.solve(op, -M.reshape(-1, order="F")).reshape(n, n, order="F")
    return (P + P.T) / 2


def newton_kleinman(A, B, Q, R, K0=None, tol: float = 1e-12, max_iter: int = 100):
    """(P, K, iterations): the stabilising CARE solution and its gain K = R^{-1} B' P."""
    A, B, Q, R = (np.atleast_2d(np.asarray(m, dtype=float)) for m in (A, B, Q, R))
    K = np.zeros((B.shape[1], A.shape[0])) if K0 is None else np.asarray(K0, dtype=float)
    if not is_hurwitz(A - B @ K):
        raise ValueError("Newton-Kleinman needs a stabilising initial gain: A - B K0 is not Hurwitz")
    Rinv = np.linalg.inv(R)
    P = None
    for it in range(1, max_iter + 1):
        P_new = lyapunov(A - B @ K, Q + K.T @ R @ K)
        K = Rinv @ B.T @ P_new
        if P is not None and np.max(np.abs(P_new - P)) <= tol * max(1.0, np.max(np.abs(P_new))):
            return P_new, K, it
        P = P_new
    raise ValueError(f"Newton-Kleinman did not converge in {max_iter} iterations")
