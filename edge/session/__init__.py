"""Per-session work: the tracker that starts and ends sessions, streaming statistics, feedback rules,
the summary and its text report."""
