"""Simulated LLM providers (OpenAI and Anthropic wire formats) and the demo traffic generator.

The simulators are what Vigil's own tests, benchmarks and `vigil demo` talk to instead of the real
providers: they speak the documented formats exactly (SSE framing, usage chunks, error bodies,
rate-limit headers) and fail on purpose when a profile or a control header says so.
See docs/simulator.md.
"""

from vigil.sim.profiles import ModelProfile, Profile, bench_profile, default_profile, load_profile
from vigil.sim.server import SimServer, run_sim
from vigil.sim.tokens import count_chat_tokens, count_tokens

__all__ = [
    "ModelProfile",
    "Profile",
    "SimServer",
    "bench_profile",
    "count_chat_tokens",
    "count_tokens",
    "default_profile",
    "load_profile",
    "run_sim",
]
