//! Downloading, verifying, safely extracting and deterministically packing runtime archives.
