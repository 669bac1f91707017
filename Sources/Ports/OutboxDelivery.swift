public import Foundation

/// The delivery side of a store's transactional outbox: the committed events due for publishing, and their
/// delivery state, for the ``OutboxRelay``.
///
/// A store appends events in the transaction of the change that caused them
/// (``UserRepository/save(_:expectedVersion:events:)``); the relay reads the ones due here, hands them to a
/// ``MessagePublisher`` and marks them published, or records a failure. Per-user order is part of the
/// contract: an event that failed (waiting for its retry) or was parked as dead holds back the later events of
/// the same user, never those of other users.
///
/// Errors: every method may throw `UserStoreError` for an infrastructure failure (code `unavailable` when the
/// store can't be reached, `closed` after the store closed); none throws a `UserError`.
public protocol OutboxDelivery: CommitSignalling {
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
    /// then; without it, the event is parked as dead until ``DeadLetters/retryDeadEvents(_:)``.
    func markFailed(_ position: EventPosition, reason: String, retryAt: Date?) async throws
    /// Counts for monitoring: events waiting to be published (and the oldest one's time) and dead events.
    func outboxStatus() async throws -> OutboxStatus
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
