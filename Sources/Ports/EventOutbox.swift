/// The reading side of a store's transactional outbox: committed events that still have to be published.
///
/// A store appends events in the transaction of the change that caused them
/// (``UserRepository/save(_:expectedVersion:events:)``); the ``OutboxRelay`` reads them here, hands them to
/// a ``MessagePublisher`` and marks them published.
///
/// Methods may throw `UserStoreError` for infrastructure failures.
public protocol EventOutbox: Sendable {
    /// Committed events not yet marked published, in ascending position order, at most `limit`.
    ///
    /// An event whose transaction committed after a later position was read is still returned by a later
    /// call: readers never skip an event because a higher position was seen first.
    func unpublishedEvents(limit: Int) async throws -> [OutboxEvent]

    /// Marks events as published so that ``unpublishedEvents(limit:)`` no longer returns them. Positions
    /// that are unknown or already published are ignored.
    func markPublished(_ positions: [EventPosition]) async throws

    /// Raised after every commit that appended events, so a relay can wake up instead of polling. A store
    /// that can't see every commit (another process writing) raises it for those it sees; the relay polls
    /// as well.
    var commitSignal: CommitSignal { get }
}

/// A store that implements both store ports: the users and their outbox. Every adapter in this package
/// is one, and the contract suite in `UserPortsTesting` checks them as one.
public typealias UserStore = UserRepository & EventOutbox
