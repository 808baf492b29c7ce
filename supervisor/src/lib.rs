//! Supervises the Python sidecar: spawn, readiness, health, logs, shutdown, no orphans.
