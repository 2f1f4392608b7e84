"""Log lines are JSON and never carry a credential."""

from __future__ import annotations

import json
import logging

import pytest

from vigil.jsonlog import MASK, JSONFormatter, mask_secrets


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-123", "abc.def-123"),
        ("headers={'authorization': 'Bearer sk-12345678abcdef'}", "sk-12345678abcdef"),
        ("using key sk-proj-abcdefghijkl now", "sk-proj-abcdefghijkl"),
        ("x-api-key: sk-ant-xyz123456789", "sk-ant-xyz123456789"),
        ('{"api_key": "hunter2-secret"}', "hunter2-secret"),
        ("admin_token=vigil-AbCdEf0123456789", "vigil-AbCdEf0123456789"),
    ],
)
def test_credentials_are_masked(text: str, secret: str) -> None:
    masked = mask_secrets(text)
    assert secret not in masked
    assert MASK in masked


def test_ordinary_text_is_left_alone() -> None:
    for text in ("GET /v1/models 200", "input_tokens=12 output_tokens=3", "model gpt-4o-mini"):
        assert mask_secrets(text) == text


def test_formatter_emits_one_masked_json_object() -> None:
    record = logging.LogRecord(
        "vigil.test",
        logging.INFO,
        __file__,
        1,
        "upstream said %s",
        ("Bearer sk-live-1234567890",),
        None,
    )
    record.model = "gpt-4o"
    line = JSONFormatter().format(record)
    event = json.loads(line)
    assert event["level"] == "info" and event["logger"] == "vigil.test"
    assert event["model"] == "gpt-4o"
    assert "sk-live-1234567890" not in line
