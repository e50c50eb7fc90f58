"""The laptop side: receive summaries over MQTT, store them in SQLite, list, show and trend them.

`store` (SQLite), `listen` (MQTT subscriber), `broker` (embedded single-room broker), `cli`
(`ppt-collect`). Nothing here runs on the device.
"""
