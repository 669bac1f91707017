public import Foundation
public import UserDomain
public import ServiceLifecycle
public import UserPorts

/// A store chosen at run time (by its URL), usable where one static store type is needed:
/// `UserUseCases<AnyUserStore>`, `UserSystem<AnyUserStore>`. It forwards every call to the store it wraps, and
/// closes it.
///
/// It is the embedding convenience for a store picked by configuration; `users serve` does not run through it
/// (it opens ``base`` into generic code, so the store's own type is specialised all the way down). Measured
/// (`users-bench --store memory: --only getById --lookups 400000 --erased 1`, release, this 2-core VM, three
/// alternating runs): 1.5–2.6 million lookups/s through it against 2.1–3.1 million without, within the VM's
/// run-to-run noise; a few tens of nanoseconds per call at most, nothing next to the SQL stores' 12 µs thread
/// hop.
public struct AnyUserStore: UserRepository, EventOutbox, DirectoryHosting, Service {
    /// The wrapped store.
    public let base: any UserStore
    /// The wrapped store's directory replica (the package's stores keep one in their database); one in memory
    /// for a store that keeps none.
    public let directoryReplica: any DirectoryReplica
    private let closeBase: @Sendable () async -> Void
    private let runBase: @Sendable () async throws -> Void

    /// Wraps a store that is a `Service` (the package's stores are): ``run()`` runs it, ``close()`` closes it.
    package init<Store: UserStore & Service>(_ base: Store, close: @escaping @Sendable () async -> Void) {
        self.base = base
        self.directoryReplica = UserAppCore.directoryReplica(of: base)
        self.closeBase = close
        self.runBase = { try await base.run() }
    }

    /// Wraps a store; ``close()`` does nothing, and ``run()`` waits for a graceful shutdown.
    package init(_ base: any UserStore) {
        self.base = base
        self.directoryReplica = UserAppCore.directoryReplica(of: base)
        self.closeBase = {}
        self.runBase = { try? await gracefulShutdown() }
    }

    /// Runs the wrapped store's service: it closes the store when the group shuts down.
    public func run() async throws {
        try await runBase()
    }

    /// Closes the wrapped store: operations afterwards throw `UserStoreError` code `closed`.
    public func close() async {
        await closeBase()
    }

    /// Forwards to the wrapped store.
    public var commitSignal: CommitSignal { base.commitSignal }

    /// Forwards to the wrapped store.
    public func user(id: UserID) async throws -> User? { try await base.user(id: id) }

    /// Forwards to the wrapped store.
    public func user(email: EmailAddress) async throws -> User? { try await base.user(email: email) }

    /// Forwards to the wrapped store.
    public func page(after cursor: PageCursor?, limit: Int) async throws -> UserPage {
        try await base.page(after: cursor, limit: limit)
    }

    /// Forwards to the wrapped store.
    @discardableResult
    public func save(_ user: User, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        try await base.save(user, expectedVersion: expectedVersion, events: events)
    }

    /// Forwards to the wrapped store.
    public func insert(_ batch: [UserChange]) async throws -> BatchInsertOutcome {
        try await base.insert(batch)
    }

    /// Forwards to the wrapped store.
    @discardableResult
    public func delete(id: UserID, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        try await base.delete(id: id, expectedVersion: expectedVersion, events: events)
    }

    /// Forwards to the wrapped store.
    public func unpublishedEvents(limit: Int) async throws -> [OutboxEvent] {
        try await base.unpublishedEvents(limit: limit)
    }

    /// Forwards to the wrapped store.
    public func markPublished(_ positions: [EventPosition]) async throws {
        try await base.markPublished(positions)
    }

    /// Forwards to the wrapped store.
    public func markFailed(_ position: EventPosition, reason: String, retryAt: Date?) async throws {
        try await base.markFailed(position, reason: reason, retryAt: retryAt)
    }

    /// Forwards to the wrapped store.
    public func deadEvents(limit: Int) async throws -> [OutboxEvent] {
        try await base.deadEvents(limit: limit)
    }

    /// Forwards to the wrapped store.
    @discardableResult
    public func retryDeadEvents(_ positions: [EventPosition]?) async throws -> Int {
        try await base.retryDeadEvents(positions)
    }

    /// Forwards to the wrapped store.
    public func events(after position: EventPosition?, limit: Int) async throws -> [OutboxEvent] {
        try await base.events(after: position, limit: limit)
    }

    /// Forwards to the wrapped store.
    public func outboxStatus() async throws -> OutboxStatus {
        try await base.outboxStatus()
    }

    /// Forwards to the wrapped store.
    @discardableResult
    public func deletePublishedEvents(before date: Date) async throws -> Int {
        try await base.deletePublishedEvents(before: date)
    }

    /// Forwards to the wrapped store.
    public func trimmedThrough() async throws -> EventPosition? {
        try await base.trimmedThrough()
    }

    /// Forwards to the wrapped store.
    public func acquireRelayLease(owner: String, duration: Duration) async throws -> Bool {
        try await base.acquireRelayLease(owner: owner, duration: duration)
    }

    /// Forwards to the wrapped store.
    public func releaseRelayLease(owner: String) async throws {
        try await base.releaseRelayLease(owner: owner)
    }
}
