"""Token counting and deterministic text for the simulated providers.

The real tokenizers cannot be used here: tiktoken downloads its BPE tables at run time and Vigil
must work offline. The simulator only needs counts that are *stable*, *plausible* (about 4
characters per token on English text, like cl100k) and *consistent*: `count_tokens(text)` of a
generated answer equals the number of pieces it was streamed in, so usage never disagrees with
what the client received.

The approximation (documented in docs/simulator.md):

- text is cut into pieces by a regex: an optional leading space followed by a run of letters, a
  run of 1-3 digits, or a run of other symbols; whitespace that is not a single leading space is
  its own piece;
- a letter run longer than 8 characters is split after the first 8 and then every 4 characters;
- a chat adds 3 tokens per message (+1 when it has a `name`) and 3 for the assistant's reply
  priming, which is what OpenAI documents for its chat format.
"""

from __future__ import annotations

import hashlib
import random
import re
from functools import lru_cache
from typing import Any

import orjson

_PIECE_RE = re.compile(r" ?[^\W\d_]+| ?\d{1,3}| ?[^\s\w]+| ?_+|\s+(?!\S)|\s+")
_FIRST_CHUNK = 8
_NEXT_CHUNK = 4


def _split_long(piece: str) -> list[str]:
    head = _FIRST_CHUNK + (piece[0] == " ")
    out = [piece[:head]]
    out.extend(piece[i : i + _NEXT_CHUNK] for i in range(head, len(piece), _NEXT_CHUNK))
    return out


def split_pieces(text: str) -> list[str]:
    """Cut `text` into token-like pieces whose concatenation is `text` again."""
    pieces: list[str] = []
    for piece in _PIECE_RE.findall(text):
        if len(piece) - (piece[0] == " ") > _FIRST_CHUNK and piece[-1].isalpha():
            pieces.extend(_split_long(piece))
        else:
            pieces.append(piece)
    return pieces


def count_tokens(text: str) -> int:
    """Approximate token count of `text` (see the module docstring for the rule)."""
    if not text:
        return 0
    return len(split_pieces(text))


def content_text(content: Any) -> str:
    """The text of a message `content`: a string or a list of parts (OpenAI or Anthropic blocks)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                for key in ("text", "content", "input", "arguments"):
                    if key in part:
                        value = part[key]
                        parts.append(value if isinstance(value, str) else content_text(value))
                if part.get("type") in ("image_url", "image", "input_audio"):
                    parts.append(" image" * 85)  # images are billed as a fixed block
        return " ".join(parts)
    return orjson.dumps(content).decode()


def count_chat_tokens(messages: Any) -> int:
    """Prompt tokens of a chat: 3 per message (+1 with a name), the contents, and 3 for priming."""
    total = 3
    if not isinstance(messages, list):
        return total
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += 3 + count_tokens(str(message.get("role", "")))
        total += count_tokens(content_text(message.get("content")))
        if message.get("name"):
            total += 1 + count_tokens(str(message["name"]))
        for call in message.get("tool_calls") or ():
            function = call.get("function", {}) if isinstance(call, dict) else {}
            total += count_tokens(str(function.get("name", "")))
            total += count_tokens(str(function.get("arguments", "")))
    return total


def request_digest(body: dict[str, Any], ignore: frozenset[str]) -> int:
    """A stable 64-bit hash of a request body without the keys that must not change the answer."""
    stable = {k: v for k, v in body.items() if k not in ignore}
    raw = orjson.dumps(stable, option=orjson.OPT_SORT_KEYS)
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


_VOCABULARY = """
the of and to in is that for it as with was on be by this are from at or an have not
which model data system answer request value result time user token stream latency error
budget team report signal metric drift label feature sample window cost price query cache
route gateway provider response service network record event monitor alert threshold
baseline quickly carefully usually often rarely clearly simply directly mostly roughly
exactly important different available possible common useful reliable typical recent
expected observability configuration distribution performance measurement reproducible
experiment evaluation calibration deployment throughput
"""
_WORDS = tuple(_VOCABULARY.split())


@lru_cache(maxsize=4096)
def generate_pieces(seed: int, n: int) -> tuple[str, ...]:
    """`n` pieces of plausible English, always the same for the same seed.

    Words are drawn from a fixed vocabulary into sentences of 6-16 words; the text is then cut with
    `split_pieces` and trimmed to exactly `n` pieces. Splitting works from the left, so a prefix of
    whole pieces splits into the same pieces: `count_tokens("".join(pieces)) == n`.
    """
    if n <= 0:
        return ()
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        words = rng.choices(_WORDS, k=rng.randint(6, 16))
        sentence = " ".join(words).capitalize()
        comma = rng.randint(2, len(words) + 4)
        if comma < len(words) - 1:
            sentence = sentence.replace(" " + words[comma], ", " + words[comma], 1)
        text = (" " if out else "") + sentence + "."
        out.extend(split_pieces(text))
    return tuple(out[:n])


def generate_word(seed: int) -> str:
    """One deterministic vocabulary word (used for tool-call arguments)."""
    return _WORDS[seed % len(_WORDS)]
