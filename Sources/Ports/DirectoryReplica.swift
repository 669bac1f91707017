public import UserDomain

/// What applying one event to a ``DirectoryReplica`` did.
public enum ReplicaOutcome: Sendable, Hashable {
    /// The event was the user's next version and is applied.
    case applied
    /// The replica had applied this version of the user (or a later one) before: nothing changed.
    case duplicate
    /// The user's previous version is missing: the event was not applied. `appliedVersion` is the version
    /// the replica holds for the user (0: none).
    case gap(appliedVersion: Int)

    /// The outcome of an event for a user of whom `appliedVersion` was applied (0: nothing, not even a
    /// deletion): the replica's rule, in one place for every implementation.
    ///
    /// The next version (`appliedVersion + 1`) is applied; a version at or below it is a duplicate; a later
    /// one is a gap.
    public static func of(_ event: UserEventEnvelope, appliedVersion: Int) -> ReplicaOutcome {
        if event.userVersion <= appliedVersion { return .duplicate }
        if event.userVersion == appliedVersion + 1 { return .applied }
        return .gap(appliedVersion: appliedVersion)
    }
}

/// What one page of history did to a ``DirectoryReplica``: its outcomes, counted.
public struct ReplicaBackfillResult: Sendable, Hashable {
    /// Events applied.
    public var applied: Int
    /// Events the replica had applied before.
    public var duplicates: Int
    /// Events that were not applied because a user's previous version was missing (a source history that
    /// lost events, e.g. trimmed by retention).
    public var gaps: Int

    /// Creates a result.
    public init(applied: Int = 0, duplicates: Int = 0, gaps: Int = 0) {
        self.applied = applied
        self.duplicates = duplicates
        self.gaps = gaps
    }

    /// Adds the counts of `other` to `total`.
    public static func += (total: inout ReplicaBackfillResult, other: ReplicaBackfillResult) {
        total.applied += other.applied
        total.duplicates += other.duplicates
        total.gaps += other.gaps
    }

    /// The counts of a page's outcomes, in any order.
    public init(counting outcomes: [ReplicaOutcome]) {
        self.init()
        for outcome in outcomes {
            switch outcome {
            case .applied: applied += 1
            case .duplicate: duplicates += 1
            case .gap: gaps += 1
            }
        }
    }
}

/// The user directory, the read model of CQRS: prefix search over e-mail and display name and counts by
/// status, kept from the user events. One port for every place it is kept: beside the users in the user
/// service's own database (``DirectoryHosting``), fed by a ``DirectoryProjection`` of the local event history,
/// and in a directory service's database, fed by a broker and backfilled from the user service's history.
///
/// A replica keeps, per user, the version it applied, and each apply checks it in the same transaction, so
/// that redelivery, racing appliers (several processes projecting into one database) and events of
/// different users arriving in any order are safe:
///
/// - version = applied + 1 (a registration: version 1 on no row): applied;
/// - version ≤ applied: a duplicate, dropped;
/// - version > applied + 1: a gap, not applied (never out of order).
///
/// A deleted user keeps a tombstone with its last version, so a redelivered older event never brings it
/// back. Tombstones are invisible to ``search(prefix:limit:)`` and ``statistics()``.
///
/// The replica also remembers how far it has read the source's event history (``backfillPosition()``): a
/// page of history and that position move in one transaction, so a restarted reader goes on from there, and
/// a consistency token at or below it is answered.
///
/// Run `DirectoryReplicaContract` of UserPortsTesting against an implementation.
public protocol DirectoryReplica: Sendable {
    /// Applies events in order by the version rule, all in one transaction with their version checks (a
    /// batch of deliveries, or a page of history, one commit): an event can follow an earlier one of its
    /// user in the same batch. With `position` (a page of the source's history, in position order), the
    /// backfill position moves to it (never backwards) in the same transaction.
    ///
    /// - Returns: for each event, at the same index, whether it was applied, a duplicate, or behind a gap.
    /// - Throws: `UserStoreError` when the replica's storage fails; nothing is applied then.
    func apply(_ events: [UserEventEnvelope], reaching position: EventPosition?) async throws -> [ReplicaOutcome]

    /// The source position the history has been applied to, or `nil` before the first page.
    func backfillPosition() async throws -> EventPosition?

    /// The version applied for a user, a deleted user's included (its tombstone); `nil` when none was.
    func appliedVersion(of user: UserID) async throws -> Int?

    /// Entries whose e-mail address (ignoring case) or display name (ignoring case) starts with `prefix`,
    /// ordered by display name (ignoring case) then id, at most `limit`; deleted users never. An empty
    /// prefix matches everyone.
    func search(prefix: String, limit: Int) async throws -> [DirectoryEntry]

    /// Counts by status, deleted users not counted.
    func statistics() async throws -> DirectoryStatistics

    /// Empties the replica (entries, tombstones and the backfill position), for a rebuild from the history.
    func reset() async throws
}

extension DirectoryReplica {
    /// Applies a batch of deliveries by the version rule, in one transaction; the backfill position stays.
    ///
    /// - Returns: for each event, at the same index, whether it was applied, a duplicate, or behind a gap.
    /// - Throws: `UserStoreError` when the replica's storage fails; nothing is applied then.
    public func apply(_ events: [UserEventEnvelope]) async throws -> [ReplicaOutcome] {
        try await apply(events, reaching: nil)
    }

    /// Applies one event by the version rule, in one transaction with its version check.
    ///
    /// - Returns: whether it was applied, a duplicate, or behind a gap.
    /// - Throws: `UserStoreError` when the replica's storage fails; nothing is applied then.
    public func apply(_ event: UserEventEnvelope) async throws -> ReplicaOutcome {
        try await apply([event], reaching: nil)[0]
    }

    /// Applies a page of the source's history (in position order) and moves the backfill position to
    /// `position`, in one transaction.
    ///
    /// - Returns: how many events were applied, duplicates, or behind a gap.
    /// - Throws: `UserStoreError` when the replica's storage fails; nothing is applied then.
    public func applyBackfill(_ events: [UserEventEnvelope], reaching position: EventPosition) async throws
        -> ReplicaBackfillResult
    {
        ReplicaBackfillResult(counting: try await apply(events, reaching: position))
    }
}

/// A store that keeps a directory replica in its own database, beside the users: one database to run, back up
/// and migrate. Every store of this package is one; `UserSystem` projects the store's history into it. A store
/// that is not gets a replica in memory, rebuilt from its history at every start.
public protocol DirectoryHosting: Sendable {
    /// The directory replica in the store's database.
    var directoryReplica: any DirectoryReplica { get }
}
