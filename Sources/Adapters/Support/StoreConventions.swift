import UserPorts

/// What the SQL stores write the same way, in one place.
package enum StoreConventions {
    /// The `projection_checkpoints` row that retention writes when it deleted events: its presence means the
    /// history no longer starts at the first event, so the directory can't be rebuilt from it.
    package static let trimmedHistoryMarker = "$history.trimmed"
}

extension Duration {
    /// The duration in whole milliseconds, rounded down (a lease's length, a busy timeout).
    package var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
