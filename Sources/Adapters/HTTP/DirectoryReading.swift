import UserDomain
import UserPorts

/// What the directory routes read: `DirectoryQueries` of any store, behind one type so that `UserAPI` is
/// generic over the write side only. A directory read is a search or a count, never the write path: the one
/// indirect call it costs is nothing beside the store's query.
protocol DirectoryReading: Sendable {
    /// The largest page of a search.
    var searchLimit: Int { get }
    /// Entries whose name or e-mail starts with `prefix`.
    func search(prefix: String, limit: Int, consistentWith token: EventPosition?) async throws -> [DirectoryEntry]
    /// Counts by status.
    func statistics(consistentWith token: EventPosition?) async throws -> DirectoryStatistics
}

extension DirectoryQueries: DirectoryReading {
    var searchLimit: Int { Self.maximumLimit }
}
