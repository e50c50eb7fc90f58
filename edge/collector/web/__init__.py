"""The collector's web dashboard: `ppt-collect serve`, `ppt-collect listen --serve`, `ppt-collect report`.

`app` (Starlette routes), `session_view` and `overview` (pages as data), `metrics` (names, units,
targets), `live` (MQTT live feed to server-sent events), `security` (loopback, token, headers),
`i18n` (English and Korean catalogues), `report` (self-contained HTML), `server` (uvicorn),
`commands` (the CLI side, importable without the `web` extra). Needs the `web` extra; nothing here
runs on the device.
"""
