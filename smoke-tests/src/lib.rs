//! Smoke tests: start an assembled runtime exactly as the shell does and exercise it.
