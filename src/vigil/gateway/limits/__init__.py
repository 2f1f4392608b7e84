"""RPM/TPM limits per key, model and deployment: sliding one-minute windows.

A sliding window log is exact: in any 60 s, a scope with `rpm: N` admits at most N requests, which
is what users read "requests per minute" to mean (a token bucket would admit up to 2N). TPM charges
the prompt estimate up front and settles on the real usage when the call ends.
"""

from vigil.gateway.limits.base import Admission, Denial, Limiter, LimitSpec
from vigil.gateway.limits.memory import MemoryLimiter

__all__ = ["Admission", "Denial", "LimitSpec", "Limiter", "MemoryLimiter"]
