public import Foundation
public import UserDomain
import UserAdapterSupport
public import UserPorts

/// A user store in memory, with the guarantees of a real one: a fake that behaves exactly like the SQL
/// stores (the same contract suite runs against all of them), and a store for embedding without a database.
///
/// It is an actor: every operation runs on its serial executor, so a change, its uniqueness check and its
/// events are one atomic step, as a database transaction would make them. Users are kept in a dictionary
/// with a case-insensitive e-mail index and an id-ordered index for keyset paging; the event log is kept
/// whole, published or not.
///
/// It is a `Service` (swift-service-lifecycle): ``run()`` waits for a graceful shutdown (or cancellation)
/// and then closes the store, so a `ServiceGroup` that lists it before the services that use it closes it
/// after them. Running it is optional: the store works from ``init()`` on, for one-shot commands and tests
/// that use it without a group. After ``close()`` every operation throws `UserStoreError` code `closed`, as
/// the SQL stores do.
public actor InMemoryUserStore: UserRepository, EventOutbox, DirectoryHosting {
    /// Raised after every commit that appended events.
    public nonisolated let commitSignal = CommitSignal()

    private var users: [UserID: User] = [:]
    private var idsByEmail: [String: UserID] = [:]
    /// Every id, ascending: the keyset index.
    private var orderedIDs: [UserID] = []
    /// The event log with each event's delivery state; the event at position p is at index p - 1.
    private var log: [LogEntry] = []
    /// Every event before this index is published or deleted.
    private var firstUnpublished = 0
    /// The directory read model kept from this store's events (by `UserSystem`'s projection): in memory too.
    public nonisolated var directoryReplica: any DirectoryReplica { directory }
    nonisolated let directory = InMemoryDirectoryReplica()
    /// Whether ``close()`` was called: operations throw `closed` from then on.
    var isClosed = false
    /// What ``run()`` waits on.
    nonisolated let lifetime = ServiceLifetime()
    /// Whether retention deleted events (then the directory can't be rebuilt).
    private var trimmedPosition: EventPosition?
    /// The relay lease: who holds it, until when.
    private var lease: (owner: String, expires: ContinuousClock.Instant)?

    private struct LogEntry {
        var event: OutboxEvent
        var published = false
        var dead = false
        var deleted = false
        var retryAt: Date?

        var isPending: Bool { !published && !deleted }
    }

    /// Creates an empty store.
    public init() {}

    // MARK: UserRepository

    /// The user with this id, or `nil`.
    public func user(id: UserID) throws -> User? {
        try checkOpen()
        return users[id]
    }

    /// The user whose e-mail address has this canonical form, or `nil`.
    public func user(email: EmailAddress) throws -> User? {
        try checkOpen()
        return idsByEmail[email.canonical].flatMap { users[$0] }
    }

    /// A page of users in id order after the cursor.
    public func page(after cursor: PageCursor?, limit: Int) throws -> UserPage {
        try checkOpen()
        try UserPage.validate(limit: limit)
        let start = cursor.map { firstIndex(after: $0.lastID) } ?? 0
        let end = min(orderedIDs.count, start + limit)
        let users = orderedIDs[start..<end].map { self.users[$0]! }
        let nextCursor = end < orderedIDs.count ? users.last.map { PageCursor(after: $0.id) } : nil
        return UserPage(users: users, nextCursor: nextCursor)
    }

    /// Inserts or updates a user and appends its events, atomically.
    @discardableResult
    public func save(_ user: User, expectedVersion: Int, events: [UserEventEnvelope]) throws -> EventPosition? {
        try checkOpen()
        let existing = users[user.id]
        if expectedVersion == 0 {
            if let existing {
                throw UserError.versionConflict(user.id, expected: 0, actual: existing.version)
            }
        } else {
            guard existing?.version == expectedVersion else {
                throw UserError.missedVersion(user.id, expected: expectedVersion, actual: existing?.version)
            }
        }
        if let owner = idsByEmail[user.email.canonical], owner != user.id {
            throw UserError.emailTaken(user.email)
        }
        if let existing {
            if existing.email.canonical != user.email.canonical {
                idsByEmail[existing.email.canonical] = nil
            }
        } else {
            orderedIDs.insert(user.id, at: firstIndex(after: user.id))
        }
        idsByEmail[user.email.canonical] = user.id
        users[user.id] = user
        return append(events)
    }

    /// Inserts new users with their events, atomically; users whose id or e-mail is taken are skipped and
    /// reported.
    public func insert(_ batch: [UserChange]) throws -> BatchInsertOutcome {
        try checkOpen()
        var outcome = BatchInsertOutcome()
        for (index, change) in batch.enumerated() {
            do {
                if let position = try save(change.user, expectedVersion: 0, events: change.events) {
                    outcome.lastPosition = position
                }
                outcome.insertedCount += 1
            } catch let error as UserError {
                outcome.rejected[index] = error
            }
        }
        return outcome
    }

    /// Removes a user and appends its events, atomically.
    @discardableResult
    public func delete(id: UserID, expectedVersion: Int, events: [UserEventEnvelope]) throws -> EventPosition? {
        try checkOpen()
        guard let existing = users[id], existing.version == expectedVersion else {
            throw UserError.missedVersion(id, expected: expectedVersion, actual: users[id]?.version)
        }
        users[id] = nil
        idsByEmail[existing.email.canonical] = nil
        let index = firstIndex(after: id) - 1
        orderedIDs.remove(at: index)
        return append(events)
    }

    // MARK: EventOutbox

    /// Events due for publishing, in position order, at most `limit`; a dead or waiting event holds back
    /// its user's later events.
    public func unpublishedEvents(limit: Int) throws -> [OutboxEvent] {
        try checkOpen()
        var result: [OutboxEvent] = []
        var heldUsers: Set<UserID> = []
        let now = Date()
        var index = firstUnpublished
        while index < log.count, result.count < limit {
            let entry = log[index]
            index += 1
            guard entry.isPending else { continue }
            let user = entry.event.envelope.userID
            if heldUsers.contains(user) { continue }
            if entry.dead || (entry.retryAt.map { $0 > now } ?? false) {
                heldUsers.insert(user)
                continue
            }
            result.append(entry.event)
        }
        return result
    }

    /// Marks events published; unknown positions are ignored.
    public func markPublished(_ positions: [EventPosition]) throws {
        try checkOpen()
        for position in positions {
            let index = Int(position.rawValue) - 1
            if log.indices.contains(index) { log[index].published = true }
        }
        while firstUnpublished < log.count, !log[firstUnpublished].isPending {
            firstUnpublished += 1
        }
    }

    /// Records a failed attempt; without `retryAt` the event is parked as dead.
    public func markFailed(_ position: EventPosition, reason: String, retryAt: Date?) throws {
        try checkOpen()
        let index = Int(position.rawValue) - 1
        guard log.indices.contains(index), log[index].isPending else { return }
        let event = log[index].event
        log[index].event = OutboxEvent(
            position: event.position, envelope: event.envelope, attempts: event.attempts + 1, lastError: reason)
        log[index].retryAt = retryAt
        log[index].dead = retryAt == nil
    }

    /// Dead events in position order, at most `limit`.
    public func deadEvents(limit: Int) throws -> [OutboxEvent] {
        try checkOpen()
        return Array(log[firstUnpublished...].lazy.filter { $0.isPending && $0.dead }.map(\.event).prefix(max(0, limit)))
    }

    /// Makes dead events due again, attempts reset.
    @discardableResult
    public func retryDeadEvents(_ positions: [EventPosition]?) throws -> Int {
        try checkOpen()
        let wanted = positions.map(Set.init)
        var count = 0
        for index in firstUnpublished..<log.count where log[index].isPending && log[index].dead {
            let event = log[index].event
            if let wanted, !wanted.contains(event.position) { continue }
            log[index].dead = false
            log[index].retryAt = nil
            log[index].event = OutboxEvent(position: event.position, envelope: event.envelope)
            count += 1
        }
        if count > 0 { commitSignal.signal() }
        return count
    }

    /// Every kept event after `position`, published or not, in position order, at most `limit`: the
    /// history. Commits are serial here, so the log has no gaps to wait for.
    public func events(after position: EventPosition?, limit: Int) throws -> [OutboxEvent] {
        try checkOpen()
        let start = position.map { max(0, min(log.count, Int($0.rawValue))) } ?? 0
        return Array(log[start...].lazy.filter { !$0.deleted }.map(\.event).prefix(max(0, limit)))
    }

    /// Pending and dead counts.
    public func outboxStatus() throws -> OutboxStatus {
        try checkOpen()
        var status = OutboxStatus(pendingCount: 0, oldestPendingAt: nil, deadCount: 0)
        for entry in log[firstUnpublished...] where entry.isPending {
            if entry.dead {
                status.deadCount += 1
            } else {
                status.pendingCount += 1
                status.oldestPendingAt = status.oldestPendingAt ?? entry.event.envelope.occurredAt
            }
        }
        return status
    }

    /// Deletes published events that occurred before `date`.
    @discardableResult
    public func deletePublishedEvents(before date: Date) throws -> Int {
        try checkOpen()
        var count = 0
        for index in log.indices.dropLast()
        where log[index].published && !log[index].deleted && log[index].event.envelope.occurredAt < date {
            log[index].deleted = true
            count += 1
            trimmedPosition = max(trimmedPosition ?? log[index].event.position, log[index].event.position)
        }
        return count
    }

    /// The highest position retention deleted, or `nil`.
    public func trimmedThrough() throws -> EventPosition? {
        try checkOpen()
        return trimmedPosition
    }

    /// Takes or renews the relay lease.
    public func acquireRelayLease(owner: String, duration: Duration) throws -> Bool {
        try checkOpen()
        let now = ContinuousClock.now
        if let lease, lease.owner != owner, lease.expires > now { return false }
        lease = (owner, now + duration)
        return true
    }

    /// Gives the lease up when `owner` holds it.
    public func releaseRelayLease(owner: String) throws {
        try checkOpen()
        if lease?.owner == owner { lease = nil }
    }

    // MARK: Helpers

    /// Throws `closed` once the store is closed.
    private func checkOpen() throws {
        if isClosed { throw UserStoreError(.closed, "The in-memory store is closed.") }
    }

    /// Drops every user, event and lease: what ``close()`` does on the actor.
    func dropEverything() {
        isClosed = true
        users = [:]
        idsByEmail = [:]
        orderedIDs = []
        log = []
        firstUnpublished = 0
        lease = nil
    }

    private func append(_ events: [UserEventEnvelope]) -> EventPosition? {
        guard !events.isEmpty else { return nil }
        for envelope in events {
            log.append(
                LogEntry(
                    event: OutboxEvent(position: EventPosition(rawValue: Int64(log.count + 1)), envelope: envelope)))
        }
        commitSignal.signal()
        return log.last?.event.position
    }

    /// The index of the first id greater than `id` in `orderedIDs` (binary search).
    private func firstIndex(after id: UserID) -> Int {
        var low = 0
        var high = orderedIDs.count
        while low < high {
            let middle = (low + high) / 2
            if id < orderedIDs[middle] { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
