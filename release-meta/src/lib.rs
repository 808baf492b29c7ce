//! Release metadata: SHA256SUMS, the minisign-signed release index, the CycloneDX SBOM, Tauri latest.json.
