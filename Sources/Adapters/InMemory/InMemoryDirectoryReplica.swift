public import UserDomain
public import UserPorts

/// A `DirectoryReplica` in memory: an actor, so each apply and its version check are one step. For tests
/// and for a follower that may rebuild from the source's history at every start.
public actor InMemoryDirectoryReplica: DirectoryReplica {
    /// Per user: the entry (`nil` once deleted: the tombstone) and the version applied.
    private var rows: [UserID: (entry: DirectoryEntry?, version: Int)] = [:]
    private var position: EventPosition?

    /// Creates an empty replica.
    public init() {}

    /// Applies events in order by the version rule, in one step.
    public func apply(_ events: [UserEventEnvelope]) -> [ReplicaOutcome] {
        events.map { apply($0) }
    }

    /// Applies one event by the version rule.
    public func apply(_ event: UserEventEnvelope) -> ReplicaOutcome {
        let row = rows[event.userID]
        let outcome = ReplicaOutcome.of(event, appliedVersion: row?.version ?? 0)
        if outcome == .applied {
            rows[event.userID] = (DirectoryEntry.applying(event, to: row?.entry), event.userVersion)
        }
        return outcome
    }

    /// Applies a page of the source's history and moves the backfill position.
    public func applyBackfill(_ events: [UserEventEnvelope], reaching position: EventPosition)
        -> ReplicaBackfillResult
    {
        let result = ReplicaBackfillResult(counting: events.map { apply($0) })
        if position.rawValue > (self.position?.rawValue ?? 0) { self.position = position }
        return result
    }

    /// The source position the backfill reached.
    public func backfillPosition() -> EventPosition? { position }

    /// The version applied for a user, tombstones included.
    public func appliedVersion(of user: UserID) -> Int? { rows[user]?.version }

    /// Entries whose e-mail or display name starts with `prefix`, ignoring case.
    public func search(prefix: String, limit: Int) -> [DirectoryEntry] {
        rows.values.compactMap(\.entry).directorySearch(prefix: prefix, limit: limit)
    }

    /// Counts by status, tombstones not counted.
    public func statistics() -> DirectoryStatistics {
        rows.values.compactMap(\.entry).directoryStatistics()
    }
}
