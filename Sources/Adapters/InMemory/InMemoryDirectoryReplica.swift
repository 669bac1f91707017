public import UserDomain
public import UserPorts

/// A `DirectoryReplica` in memory: an actor, so each apply and its version check are one step. The directory
/// of an ``InMemoryUserStore``, a fake for tests, and the replica of a follower that may rebuild from the
/// source's history at every start.
public actor InMemoryDirectoryReplica: DirectoryReplica {
    /// Per user: the entry and its search keys, or a tombstone; the entry's version is the one applied.
    private var rows: [UserID: ReplicaRow] = [:]
    private var position: EventPosition?
    private var isClosed = false

    /// Creates an empty replica.
    public init() {}

    /// Applies events in order by the version rule and moves the backfill position, in one step.
    public func apply(_ events: [UserEventEnvelope], reaching position: EventPosition?) throws -> [ReplicaOutcome] {
        try checkOpen()
        let outcomes = ReplicaBatch.apply(events, to: &rows).outcomes
        if let position, position.rawValue > (self.position?.rawValue ?? 0) { self.position = position }
        return outcomes
    }

    /// Empties the replica and its backfill position.
    public func reset() throws {
        try checkOpen()
        rows = [:]
        position = nil
    }

    /// The source position the backfill reached.
    public func backfillPosition() throws -> EventPosition? {
        try checkOpen()
        return position
    }

    /// The version applied for a user, tombstones included.
    public func appliedVersion(of user: UserID) throws -> Int? {
        try checkOpen()
        return rows[user]?.entry.version
    }

    /// Entries whose e-mail or display name starts with `prefix`, ignoring case.
    public func search(prefix: String, limit: Int) throws -> [DirectoryEntry] {
        try checkOpen()
        return rows.values.lazy.filter { !$0.deleted }.map(\.entry).directorySearch(prefix: prefix, limit: limit)
    }

    /// Counts by status, tombstones not counted.
    public func statistics() throws -> DirectoryStatistics {
        try checkOpen()
        return rows.values.lazy.filter { !$0.deleted }.map(\.entry).directoryStatistics()
    }

    /// Drops every row; later calls throw `UserStoreError` code `closed`, as a closed SQL replica's do.
    public func close() {
        isClosed = true
        rows = [:]
        position = nil
    }

    private func checkOpen() throws {
        if isClosed { throw UserStoreError(.closed, "The in-memory directory is closed.") }
    }
}
