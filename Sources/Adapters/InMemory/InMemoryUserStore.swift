public import UserDomain
public import UserPorts

/// A user store in memory, with the guarantees of a real one: a fake that behaves exactly like the SQL
/// stores (the same contract suite runs against all of them), and a store for embedding without a database.
///
/// It is an actor: every operation runs on its serial executor, so a change, its uniqueness check and its
/// events are one atomic step, as a database transaction would make them. Users are kept in a dictionary
/// with a case-insensitive e-mail index and an id-ordered index for keyset paging; the event log is kept
/// whole, published or not.
public actor InMemoryUserStore: UserRepository, EventOutbox {
    /// Raised after every commit that appended events.
    public nonisolated let commitSignal = CommitSignal()

    private var users: [UserID: User] = [:]
    private var idsByEmail: [String: UserID] = [:]
    /// Every id, ascending: the keyset index.
    private var orderedIDs: [UserID] = []
    /// The event log; the event at position p is at index p - 1.
    private var log: [OutboxEvent] = []
    private var published: [Bool] = []
    /// Every event before this index is published.
    private var firstUnpublished = 0

    /// Creates an empty store.
    public init() {}

    // MARK: UserRepository

    /// The user with this id, or `nil`.
    public func user(id: UserID) -> User? {
        users[id]
    }

    /// The user whose e-mail address has this canonical form, or `nil`.
    public func user(email: EmailAddress) -> User? {
        idsByEmail[email.canonical].flatMap { users[$0] }
    }

    /// A page of users in id order after the cursor.
    public func page(after cursor: PageCursor?, limit: Int) throws -> UserPage {
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
        let existing = users[user.id]
        if expectedVersion == 0 {
            if let existing {
                throw UserError.versionConflict(user.id, expected: 0, actual: existing.version)
            }
        } else {
            guard let existing else { throw UserError.notFound(user.id) }
            guard existing.version == expectedVersion else {
                throw UserError.versionConflict(user.id, expected: expectedVersion, actual: existing.version)
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
        guard let existing = users[id] else { throw UserError.notFound(id) }
        guard existing.version == expectedVersion else {
            throw UserError.versionConflict(id, expected: expectedVersion, actual: existing.version)
        }
        users[id] = nil
        idsByEmail[existing.email.canonical] = nil
        let index = firstIndex(after: id) - 1
        orderedIDs.remove(at: index)
        return append(events)
    }

    // MARK: EventOutbox

    /// Unpublished events in position order, at most `limit`.
    public func unpublishedEvents(limit: Int) -> [OutboxEvent] {
        var result: [OutboxEvent] = []
        var index = firstUnpublished
        while index < log.count, result.count < limit {
            if !published[index] { result.append(log[index]) }
            index += 1
        }
        return result
    }

    /// Marks events published; unknown positions are ignored.
    public func markPublished(_ positions: [EventPosition]) {
        for position in positions {
            let index = Int(position.rawValue) - 1
            if log.indices.contains(index) { published[index] = true }
        }
        while firstUnpublished < published.count, published[firstUnpublished] {
            firstUnpublished += 1
        }
    }

    /// Every committed event after `position` (from the start when `nil`), published or not, in position
    /// order, at most `limit`: the event history.
    public func events(after position: EventPosition?, limit: Int) -> [OutboxEvent] {
        let start = position.map { max(0, min(log.count, Int($0.rawValue))) } ?? 0
        return Array(log[start..<min(log.count, start + max(0, limit))])
    }

    // MARK: Helpers

    private func append(_ events: [UserEventEnvelope]) -> EventPosition? {
        guard !events.isEmpty else { return nil }
        for envelope in events {
            log.append(OutboxEvent(position: EventPosition(rawValue: Int64(log.count + 1)), envelope: envelope))
            published.append(false)
        }
        commitSignal.signal()
        return log.last?.position
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
