import UserDomain
import UserPorts

/// The directory's search and counts over entries held in memory, in the order and with the case folding of
/// the SQL replicas.
extension Sequence<DirectoryEntry> {
    /// Entries whose e-mail or display name starts with `prefix`, ignoring case, ordered by display name
    /// (ignoring case, in byte order as the SQL stores sort) then id, at most `limit`.
    func directorySearch(prefix: String, limit: Int) -> [DirectoryEntry] {
        let low = prefix.lowercased()
        let matches = filter { $0.email.lowercased().hasPrefix(low) || $0.displayName.lowercased().hasPrefix(low) }
        let sorted = matches.sorted { a, b in
            let (left, right) = (a.displayName.lowercased(), b.displayName.lowercased())
            if left != right { return Array(left.utf8).lexicographicallyPrecedes(Array(right.utf8)) }
            return a.id < b.id
        }
        return Array(sorted.prefix(Swift.max(0, limit)))
    }

    /// Counts by status.
    func directoryStatistics() -> DirectoryStatistics {
        var active = 0
        var total = 0
        for entry in self {
            total += 1
            if entry.status == .active { active += 1 }
        }
        return DirectoryStatistics(active: active, deactivated: total - active)
    }
}
