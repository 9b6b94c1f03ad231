"""Monitoring of the served twin: the prompt_logs table the service writes, its retention, and
hourly prompt_metrics whose asset checks are the alerts.

Import nothing here: the service (bento/) uses `twin_assets.monitoring.logs`, which must not pull
in the Dagster assets.
"""
