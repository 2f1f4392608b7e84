"""An example Alertmanager config that routes Vigil's alerts by severity.

critical -> a pager webhook, warning -> a chat webhook, info -> nowhere (kept for the UI). A
critical alert silences the warning of the same model and provider (the 5xx ratio over 5% also
exceeds 1%), so the pager and the chat do not both ring for one incident. The webhook URLs are
placeholders to replace (or pass with `--pager-url` / `--chat-url`).
"""

from __future__ import annotations

from typing import Any

PAGER_URL = "http://127.0.0.1:9095/pager"
CHAT_URL = "http://127.0.0.1:9096/chat"


def alertmanager_config(pager_url: str = PAGER_URL, chat_url: str = CHAT_URL) -> dict[str, Any]:
    """Alertmanager's YAML structure (`alertmanager.yml`)."""
    return {
        "route": {
            "receiver": "none",
            "group_by": ["alertname", "model", "provider"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"matchers": ['severity="critical"'], "receiver": "pager"},
                {"matchers": ['severity="warning"'], "receiver": "chat"},
                {"matchers": ['severity="info"'], "receiver": "none"},
            ],
        },
        "receivers": [
            {"name": "pager", "webhook_configs": [{"url": pager_url, "send_resolved": True}]},
            {"name": "chat", "webhook_configs": [{"url": chat_url, "send_resolved": True}]},
            {"name": "none"},
        ],
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["model", "provider"],
            }
        ],
    }
