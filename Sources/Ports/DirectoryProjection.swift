import Foundation
public import Logging
public import ServiceLifecycle
import UserDomain

/// Keeps the user directory (``UserDirectory``) up to date from the event log: the projection of CQRS.
///
/// It reads the history after the directory's checkpoint (``EventHistory/events(after:limit:)``, which never
/// skips a late commit) and applies it in batches, each batch and the checkpoint in one transaction. Run it
/// as a swift-service-lifecycle `Service` (it wakes on the store's ``CommitSignal`` and polls at
/// ``Configuration/pollInterval`` for commits of other processes), or call ``catchUp()``; ``rebuild()``
/// replays the whole log into an emptied directory. Several projections may run against one database:
/// the checkpoint is taken under a lock in each batch's transaction, so every event is applied once.
public struct DirectoryProjection<Store: EventHistory & UserDirectory>: Service {
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

    private let store: Store
    private let configuration: Configuration
    private let logger: Logger
    /// Raised after every batch applied: directory queries waiting for a consistency token wake on it.
    public let progress: CommitSignal

    /// Creates a projection.
    ///
    /// - Parameters:
    ///   - store: the store whose event history it reads and whose directory it keeps.
    ///   - configuration: the batch size and the poll interval.
    ///   - progress: the signal raised after every batch; share it with the ``DirectoryQueries`` of
    ///     this process so that their waits end as soon as the directory caught up.
    ///   - logger: where failures and rebuilds are logged.
    public init(
        store: Store, configuration: Configuration = .init(), progress: CommitSignal = CommitSignal(), logger: Logger
    ) {
        self.store = store
        self.configuration = configuration
        self.progress = progress
        self.logger = logger
    }

    /// Applies events until the task is cancelled or a graceful shutdown begins; failures are logged and
    /// retried after a pause.
    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let seen = store.commitSignal.generation
            do {
                try await catchUp()
                let signal = store.commitSignal
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
    /// - Returns: how many events it applied.
    @discardableResult
    public func catchUp() async throws -> Int {
        var total = 0
        var position = try await store.directoryPosition()
        while true {
            let events = try await store.events(after: position, limit: configuration.batchSize)
            guard let last = events.last else { return total }
            try await store.applyToDirectory(events)
            position = last.position
            total += events.count
            progress.signal()
            if events.count < configuration.batchSize { return total }
        }
    }

    /// Empties the directory and replays the whole event log into it.
    ///
    /// - Returns: how many events it applied.
    /// - Throws: `UserStoreError` code `historyTrimmed` when retention trimmed the log.
    @discardableResult
    public func rebuild() async throws -> Int {
        try await store.resetDirectory()
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

/// The directory queries: reads of the read model, consistent with a write when given its token.
///
/// A command's consistency token (``UserUseCases/withConsistencyToken(_:)``) is the position of its last
/// event; a query that passes it waits, up to a timeout, until the projection has applied that position,
/// and throws ``DirectoryNotCaughtUp`` rather than answer from an older state.
public struct DirectoryQueries<Store: UserDirectory & EventHistory>: Sendable {
    /// The largest page of a search.
    public static var maximumLimit: Int { 100 }

    private let store: Store
    private let progress: CommitSignal?
    private let timeout: Duration

    /// Creates the queries.
    ///
    /// - Parameters:
    ///   - store: the store whose directory it reads.
    ///   - progress: the projection's ``DirectoryProjection/progress`` when it runs in this process (waits
    ///     then end at once); without it waits poll the store.
    ///   - timeout: the longest a query waits for its consistency token.
    public init(store: Store, progress: CommitSignal? = nil, timeout: Duration = .seconds(5)) {
        self.store = store
        self.progress = progress
        self.timeout = timeout
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
        return try await store.searchDirectory(prefix: DirectoryEntry.searchPrefix(prefix), limit: limit)
    }

    /// Counts by status.
    ///
    /// - Throws: ``DirectoryNotCaughtUp`` when `token` is not reached within the timeout;
    ///   ``UnknownConsistencyToken`` for a token that names no committed event.
    public func statistics(consistentWith token: EventPosition? = nil) async throws -> DirectoryStatistics {
        try await wait(for: token)
        return try await store.directoryStatistics()
    }

    /// Waits until the directory applied `token`.
    private func wait(for token: EventPosition?) async throws {
        guard let token else { return }
        let deadline = ContinuousClock.now + timeout
        var checkedExists = false
        while true {
            let seen = progress?.generation ?? 0
            let projected = try await store.directoryPosition()
            if let projected, projected >= token { return }
            if !checkedExists {
                // A token names a committed event; one past the end of the log was never given by a write.
                let event = try await store.events(after: EventPosition(rawValue: token.rawValue - 1), limit: 1)
                guard event.first?.position == token else { throw UnknownConsistencyToken(token: token) }
                checkedExists = true
            }
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { throw DirectoryNotCaughtUp(token: token, projected: projected) }
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
