//! The runtime contract: targets, layout, manifest, launch contract (DESIGN.md §2–§7).
