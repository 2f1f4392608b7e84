"""Loki's push protobuf (`logproto.PushRequest`), defined here from its documented fields.

Only the four small messages a push carries, built at import time into protobuf's descriptor pool
(no generated code, no copy of Loki's .proto files), plus the parser of the stream label string
`{job="api", level="error"}` that `StreamAdapter.labels` holds.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

_F = descriptor_pb2.FieldDescriptorProto


def _field(name: str, number: int, kind: Any, repeated: bool = False, type_name: str = "") -> Any:
    label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    field = _F(name=name, number=number, type=kind, label=label)
    if type_name:
        field.type_name = type_name
    return field


def _build() -> Any:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(
        name="vigil/loki_push.proto",
        package="logproto",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )
    file.message_type.add(
        name="PushRequest",
        field=[_field("streams", 1, _F.TYPE_MESSAGE, True, ".logproto.StreamAdapter")],
    )
    file.message_type.add(
        name="StreamAdapter",
        field=[
            _field("labels", 1, _F.TYPE_STRING),
            _field("entries", 2, _F.TYPE_MESSAGE, True, ".logproto.EntryAdapter"),
            _field("hash", 3, _F.TYPE_UINT64),
        ],
    )
    file.message_type.add(
        name="EntryAdapter",
        field=[
            _field("timestamp", 1, _F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp"),
            _field("line", 2, _F.TYPE_STRING),
            _field("structuredMetadata", 3, _F.TYPE_MESSAGE, True, ".logproto.LabelPairAdapter"),
        ],
    )
    file.message_type.add(
        name="LabelPairAdapter",
        field=[_field("name", 1, _F.TYPE_STRING), _field("value", 2, _F.TYPE_STRING)],
    )
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))


PushRequest: Any = _build()
"""`PushRequest.FromString(snappy.decompress_raw(body))`; also used by tests to build pushes."""

_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n", "\\t": "\t"}


def parse_labels(text: str) -> dict[str, str]:
    """`{job="api", msg="say \\"hi\\""}` -> {"job": "api", "msg": 'say "hi"'}; ValueError if not."""
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        raise ValueError(f'stream labels must look like {{name="value", ...}}, got {text[:80]!r}')
    inner = inner[1:-1].strip()
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(inner):
        match = _LABEL.match(inner, pos)
        if match is None:
            raise ValueError(f"cannot parse stream labels {text[:80]!r} at offset {pos}")
        value = re.sub(r"\\.", lambda m: _ESCAPES.get(m.group(0), m.group(0)[1]), match.group(2))
        labels[match.group(1)] = value
        pos = match.end()
    return labels
