public import Foundation

/// A store's transactional outbox and event log: committed events, their delivery state, and the history.
///
/// A store appends events in the transaction of the change that caused them
/// (``UserRepository/save(_:expectedVersion:events:)``); the ``OutboxRelay`` reads the ones due here, hands
/// them to a ``MessagePublisher`` and marks them published, or records a failure. The log is also the
/// history: published events stay (until ``deletePublishedEvents(before:)`` trims them) and
/// ``events(after:limit:)`` reads them in order, for projections and `users events tail`.
///
/// Per-user order is part of the contract: an event that failed (waiting for its retry) or was parked as
/// dead holds back the later events of the same user, never those of other users.
///
/// Methods may throw `UserStoreError` for infrastructure failures.
public protocol EventOutbox: Sendable {
    /// Events due for publishing, in ascending position order, at most `limit`: committed, not published,
    /// not dead, not waiting for a retry, and not behind an earlier unpublished event of the same user that
    /// is dead or waiting.
    ///
    /// An event whose transaction committed after a later position was read is still returned by a later
    /// call: readers never skip an event because a higher position was seen first.
    func unpublishedEvents(limit: Int) async throws -> [OutboxEvent]

    /// Marks events as published so that ``unpublishedEvents(limit:)`` no longer returns them. Positions
    /// that are unknown or already published are ignored.
    func markPublished(_ positions: [EventPosition]) async throws

    /// Records a failed attempt to publish an event: its ``OutboxEvent/attempts`` grows by one and
    /// `reason` is kept. With `retryAt`, the event (and the later events of its user) is due again from
    /// then; without it, the event is parked as dead until ``retryDeadEvents(_:)``.
    func markFailed(_ position: EventPosition, reason: String, retryAt: Date?) async throws

    /// Events parked as dead, in position order, at most `limit`.
    func deadEvents(limit: Int) async throws -> [OutboxEvent]

    /// Makes dead events due again with their attempts reset: the ones at `positions`, or all when `nil`.
    ///
    /// - Returns: how many events were revived.
    @discardableResult
    func retryDeadEvents(_ positions: [EventPosition]?) async throws -> Int

    /// The committed history after `position` (from the first kept event when `nil`), published or not, in
    /// position order, at most `limit`.
    ///
    /// Gap-free: it returns an event only when every lower position is either returned before it or will
    /// never commit, so a reader that checkpoints the last position it read never misses an event that
    /// committed late (PostgreSQL transactions can commit out of position order).
    func events(after position: EventPosition?, limit: Int) async throws -> [OutboxEvent]

    /// Counts for monitoring: events waiting to be published (and the oldest one's time) and dead events.
    func outboxStatus() async throws -> OutboxStatus

    /// Deletes published events that occurred before `date` (the retention of the history); unpublished and
    /// dead events are kept, and so is the newest event whatever its age (so that no position is reused).
    ///
    /// - Returns: how many events were deleted.
    @discardableResult
    func deletePublishedEvents(before date: Date) async throws -> Int

    /// Takes or renews the relay lease named `owner` for `duration`, unless another owner holds an unexpired
    /// one: only the holder publishes, so several relays against one database never publish at the same
    /// time.
    ///
    /// - Returns: `true` when `owner` holds the lease until at least `duration` from now.
    func acquireRelayLease(owner: String, duration: Duration) async throws -> Bool

    /// Gives the lease up, when `owner` holds it, so a standby relay takes over at once.
    func releaseRelayLease(owner: String) async throws

    /// Raised after every commit that appended events, so a relay can wake up instead of polling. A store
    /// that can't see every commit (another process writing) raises it for those it sees; the relay polls
    /// as well.
    var commitSignal: CommitSignal { get }
}

/// The state of an outbox, for metrics and `users events status`.
public struct OutboxStatus: Sendable, Hashable {
    /// Events committed and not yet published, dead ones excluded.
    public var pendingCount: Int
    /// When the oldest of them occurred, or `nil` when there is none.
    public var oldestPendingAt: Date?
    /// Events parked as dead.
    public var deadCount: Int

    /// Creates a status.
    public init(pendingCount: Int, oldestPendingAt: Date?, deadCount: Int) {
        self.pendingCount = pendingCount
        self.oldestPendingAt = oldestPendingAt
        self.deadCount = deadCount
    }
}

/// A store that implements the three store ports: the users, their outbox and event log, and the directory
/// read model kept from that log. Every adapter in this package
/// is one, and the contract suite in `UserPortsTesting` checks them as one.
public typealias UserStore = UserRepository & EventOutbox & UserDirectory
