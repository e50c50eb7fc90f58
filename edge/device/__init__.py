"""The device runtime: capture, the daemon, MQTT publishing with its spool, commands, checkpoints,
systemd notification."""
