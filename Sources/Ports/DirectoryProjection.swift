import Foundation
public import Logging
public import ServiceLifecycle
import UserDomain

/// Keeps a directory replica (``DirectoryReplica``) from an event history: the projection of CQRS, in the
/// process that writes the events.
///
/// It reads the history after the replica's ``DirectoryReplica/backfillPosition()``
/// (``EventHistory/events(after:limit:)``, which never skips a late commit) and applies it in batches, each
/// batch and the position in one transaction of the replica. Run it as a swift-service-lifecycle `Service`
/// (it wakes on the history's ``CommitSignal`` and polls at ``Configuration/pollInterval`` for commits of
/// other processes), or call ``catchUp()``; ``rebuild()`` replays the whole log into an emptied replica.
///
/// Any number of projections may run against one replica, with no lease (several `users serve` on one
/// PostgreSQL): the replica's per-user version rule drops what another one applied first, so every event is
/// applied once and a user's events in order.
public struct DirectoryProjection<History: EventHistory>: Service {
    /// Batching and polling.
    public struct Configuration: Sendable {
        /// Events applied per transaction.
        public var batchSize: Int
        /// The longest the projection sleeps when no commit signal arrives.
        public var pollInterval: Duration

        /// Creates a configuration.
        public init(batchSize: Int = 500, pollInterval: Duration = .seconds(1)) {
            self.batchSize = max(1, batchSize)
            self.pollInterval = pollInterval
        }
    }

    private let history: History
    private let replica: any DirectoryReplica
    private let configuration: Configuration
    private let logger: Logger
    /// Raised after every batch applied: directory queries waiting for a consistency token wake on it.
    public let progress: CommitSignal

    /// Creates a projection.
    ///
    /// - Parameters:
    ///   - history: the event history it reads (a store's outbox).
    ///   - replica: the directory it keeps (the store's own, ``DirectoryHosting/directoryReplica``, or another).
    ///   - configuration: the batch size and the poll interval.
    ///   - progress: the signal raised after every batch; share it with the ``DirectoryQueries`` of
    ///     this process so that their waits end as soon as the directory caught up.
    ///   - logger: where failures and rebuilds are logged.
    public init(
        history: History, replica: any DirectoryReplica, configuration: Configuration = .init(),
        progress: CommitSignal = CommitSignal(), logger: Logger
    ) {
        self.history = history
        self.replica = replica
        self.configuration = configuration
        self.progress = progress
        self.logger = logger
    }

    /// Applies events until the task is cancelled or a graceful shutdown begins; failures are logged and
    /// retried after a pause.
    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let seen = history.commitSignal.generation
            do {
                try await catchUp()
                let signal = history.commitSignal
                let timeout = configuration.pollInterval
                _ = await cancelWhenGracefulShutdown { await signal.wait(after: seen, timeout: timeout) }
            } catch {
                if Task.isCancelled { break }
                logger.warning("directory projection failed; retrying", metadata: ["error": "\(error)"])
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
        }
    }

    /// Applies every event committed so far.
    ///
    /// - Returns: what it applied; events another projection applied first count as duplicates, events
    ///   behind a user's missing version (a history trimmed by retention) as gaps.
    @discardableResult
    public func catchUp() async throws -> ReplicaBackfillResult {
        var total = ReplicaBackfillResult()
        var position = try await replica.backfillPosition()
        while true {
            let events = try await history.events(after: position, limit: configuration.batchSize)
            guard let last = events.last else { return total }
            let outcomes = try await replica.apply(events.map(\.envelope), reaching: last.position)
            total += ReplicaBackfillResult(counting: outcomes)
            position = last.position
            progress.signal()
            if events.count < configuration.batchSize { return total }
        }
    }

    /// Empties the replica and replays the whole event log into it.
    ///
    /// - Returns: what it applied.
    /// - Throws: `UserStoreError` code `historyTrimmed` when retention trimmed the log (nothing is emptied then).
    @discardableResult
    public func rebuild() async throws -> ReplicaBackfillResult {
        if try await history.trimmedThrough() != nil {
            throw UserStoreError(
                .historyTrimmed, "The event log was trimmed by retention; the directory can't be rebuilt from it.")
        }
        try await replica.reset()
        logger.info("directory emptied; replaying the event log")
        return try await catchUp()
    }
}

/// A directory query asked to be consistent with a token could not be answered in time: the projection had
/// not applied the token's event. Retry later; over HTTP it is 503 with `Retry-After`.
public struct DirectoryNotCaughtUp: Error, Sendable, CustomStringConvertible {
    /// The position the caller asked for.
    public let token: EventPosition
    /// The position the directory had reached.
    public let projected: EventPosition?

    /// A sentence for a person.
    public var description: String {
        "The directory has not caught up with position \(token) yet (it is at \(projected?.description ?? "0"))."
    }
}

/// A consistency token that names no committed event: not one a write returned.
public struct UnknownConsistencyToken: Error, Sendable, CustomStringConvertible {
    /// The token given.
    public let token: EventPosition

    /// A sentence for a person.
    public var description: String { "No write returned the consistency token \(token)." }
}

/// The directory queries: reads of a directory replica, consistent with a write when given its token. The
/// one query type of both services' `/directory` routes.
///
/// A command's consistency token (``UserUseCases/withConsistencyToken(_:)``) is the position of its last
/// event; a query that passes it waits, up to a timeout, until the replica's backfill position reached it,
/// and throws ``DirectoryNotCaughtUp`` rather than answer from an older state.
public struct DirectoryQueries: Sendable {
    /// The largest page of a search.
    public static var maximumLimit: Int { 100 }

    private let replica: any DirectoryReplica
    private let history: (any EventHistory)?
    private let progress: CommitSignal?
    private let timeout: Duration
    private let behind: (@Sendable (EventPosition) async -> Void)?

    /// Creates the queries.
    ///
    /// - Parameters:
    ///   - replica: the directory it reads.
    ///   - history: the event history the tokens are positions of, when it is in this process: a token that
    ///     names no event in it is refused at once (``UnknownConsistencyToken``) instead of waited for.
    ///   - progress: the projection's ``DirectoryProjection/progress`` when it runs in this process (waits
    ///     then end at once); without it waits poll the replica.
    ///   - timeout: the longest a query waits for its consistency token.
    ///   - behind: called once by a query whose token the replica has not reached after a short wait (a
    ///     directory service backfills from the user service then: the event may be held back on its way, or
    ///     its position taken by no event); it is cancelled when the query's timeout ends first.
    public init(
        replica: any DirectoryReplica, history: (any EventHistory)? = nil, progress: CommitSignal? = nil,
        timeout: Duration = .seconds(5), behind: (@Sendable (EventPosition) async -> Void)? = nil
    ) {
        self.replica = replica
        self.history = history
        self.progress = progress
        self.timeout = timeout
        self.behind = behind
    }

    /// Users whose e-mail address or display name starts with `prefix`, ignoring case.
    ///
    /// - Throws: `UserError.invalidPageSize` for a limit outside `1...maximumLimit`;
    ///   ``DirectoryNotCaughtUp`` when `token` is not reached within the timeout; ``UnknownConsistencyToken``
    ///   for a token that names no committed event.
    public func search(prefix: String, limit: Int = 20, consistentWith token: EventPosition? = nil) async throws
        -> [DirectoryEntry]
    {
        guard (1...Self.maximumLimit).contains(limit) else { throw UserError.invalidPageSize(limit) }
        try await wait(for: token)
        return try await replica.search(prefix: DirectoryEntry.searchPrefix(prefix), limit: limit)
    }

    /// Counts by status.
    ///
    /// - Throws: ``DirectoryNotCaughtUp`` when `token` is not reached within the timeout;
    ///   ``UnknownConsistencyToken`` for a token that names no committed event.
    public func statistics(consistentWith token: EventPosition? = nil) async throws -> DirectoryStatistics {
        try await wait(for: token)
        return try await replica.statistics()
    }

    /// Waits until the replica applied `token`.
    private func wait(for token: EventPosition?) async throws {
        guard let token else { return }
        let start = ContinuousClock.now
        let deadline = start + timeout
        var checkedExists = history == nil
        var calledBehind = behind == nil
        while true {
            let seen = progress?.generation ?? 0
            let projected = try await replica.backfillPosition()
            if let projected, projected >= token { return }
            if !checkedExists, let history {
                // A token names a committed event; one past the end of the log was never given by a write.
                let event = try await history.events(after: EventPosition(rawValue: token.rawValue - 1), limit: 1)
                guard event.first?.position == token else { throw UnknownConsistencyToken(token: token) }
                checkedExists = true
            }
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { throw DirectoryNotCaughtUp(token: token, projected: projected) }
            if !calledBehind, let behind, ContinuousClock.now - start >= .milliseconds(100) {
                calledBehind = true
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await behind(token) }
                    group.addTask { try? await Task.sleep(for: remaining) }
                    await group.next()
                    group.cancelAll()
                }
                continue
            }
            let step = min(remaining, .milliseconds(progress == nil ? 20 : 250))
            if let progress {
                _ = await progress.wait(after: seen, timeout: step)
            } else {
                try await Task.sleep(for: step)
            }
            try Task.checkCancellation()
        }
    }
}
