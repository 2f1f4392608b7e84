"""Files for the tools around Vigil: Grafana dashboards, Prometheus rules, Alertmanager config.

Generated from code (`vigil export grafana|prometheus-rules|alertmanager DIR`) so the queries
always name metrics Vigil really exports; tests evaluate them against a real Prometheus.
"""
