"""Alerts: rules over Vigil's signals, a pending/firing/resolved state machine, routing, silences,
inhibition and delivery to Alertmanager, webhooks and Slack (docs/alerts.md).

`config` holds the `alerts:` config models, `signals` turns rules into batched SQL, `state` is the
clock-driven evaluator, `routing` the Alertmanager-like dispatcher, `notify` the senders and
`service` the background job that ties them to the store.
"""

# The config package imports `vigil.alerts.config` for the `alerts:` section; loading it first keeps
# that import order whichever package a caller imports first.
import vigil.config  # noqa: F401
