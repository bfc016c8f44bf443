//! Nacre's limits, in one table: what one request may ask of a node. Every adapter checks
//! against these before anything reaches NATS.

/// Bounds on what one import inflates and writes.
#[derive(Debug, Clone, Copy)]
pub struct ImportBounds {
    /// Files in an archive (or items in a JSON import); a config comes with its `.meta`.
    pub max_entries: usize,
    /// Inflated bytes of one file.
    pub max_entry_bytes: u64,
    /// Inflated bytes of the whole archive.
    pub max_total_bytes: u64,
}

pub const IMPORT: ImportBounds = ImportBounds {
    max_entries: 20_000,
    max_entry_bytes: 4 * 1024 * 1024,
    max_total_bytes: 64 * 1024 * 1024,
};
