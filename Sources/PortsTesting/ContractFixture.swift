import Foundation
import UserDomain
import Logging
import UserPorts

/// What a check works with: the store under test and helpers to make users.
struct Fixture: Sendable {
    /// The store under test as a repository: all that the repository checks use.
    let repository: any UserRepository
    let expect: Expectations
    private let full: (any UserStore)?
    private let clock = Ticker()

    init(repository: any UserRepository, store: (any UserStore)?, expect: Expectations) {
        self.repository = repository
        self.full = store
        self.expect = expect
    }

    /// The whole store, for the outbox and directory checks (``UserStoreContract/run(_:)`` runs those only
    /// with a whole store).
    var store: any UserStore {
        guard let full else { preconditionFailure("a repository check used the whole store") }
        return full
    }

    /// A strictly increasing time, 1 ms per call, with a millisecond fraction to show precision.
    func now() -> Date {
        Date(epochMilliseconds: clock.next())
    }

    static let ids = UUIDv7Generator()

    /// A user id whose byte order follows `key`: `00000000-0000-4000-8000-` + 12 hex digits of `key`.
    static func orderedID(_ key: Int) -> UserID {
        let hex = String(key, radix: 16)
        return UserID("00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - hex.count) + hex)!
    }

    static func uniqueEmail(_ prefix: String = "user") -> String {
        "\(prefix).\(UUID().uuidString.prefix(8).lowercased())@example.com"
    }

    /// A registration (not yet saved).
    func registration(id: UserID? = nil, email: String? = nil, name: String = "Test User") throws -> UserChange {
        User.register(
            id: id ?? Self.ids.makeUserID(), email: try EmailAddress(email ?? Self.uniqueEmail()),
            displayName: try DisplayName(name), at: now(), eventID: Self.ids.makeEventID())
    }

    /// Registers and saves a user.
    @discardableResult
    func register(id: UserID? = nil, email: String? = nil, name: String = "Test User") async throws -> User {
        let change = try registration(id: id, email: email, name: name)
        try await repository.save(change.user, expectedVersion: 0, events: change.events)
        return change.user
    }

    /// Applies an operation to a user and saves it at the user's version.
    func apply(_ user: User, _ operation: (User, Date, UUID) throws -> UserChange) async throws -> User {
        let change = try operation(user, now(), Self.ids.makeEventID())
        try await repository.save(change.user, expectedVersion: user.version, events: change.events)
        return change.user
    }

    @discardableResult
    func rename(_ user: User, _ name: String) async throws -> User {
        try await apply(user) { user, now, id in try user.renamed(to: DisplayName(name), at: now, eventID: id) }
    }

    func allEvents() async throws -> [OutboxEvent] {
        try await store.unpublishedEvents(limit: 1_000_000)
    }

    /// The events in the outbox when the store has one (the whole-store provider), `nil` for a repository alone:
    /// a repository check asserts on events only where there are events to see.
    func eventsIfOutbox() async throws -> [OutboxEvent]? {
        guard let full else { return nil }
        return try await full.unpublishedEvents(limit: 1_000_000)
    }

    /// The store's directory (``UserStoreContract/Port/directory`` checks run only on a store that keeps one).
    var directory: any DirectoryReplica {
        get throws {
            guard let hosting = store as? any DirectoryHosting else {
                throw expect.fail(
                    "the directory checks need a store that keeps its directory (DirectoryHosting); a store that "
                        + "keeps none runs checks(for: .repository) and checks(for: .outbox)")
            }
            return hosting.directoryReplica
        }
    }

    /// A projection of `history` (the store under test, its type opened from `any UserStore`) into the store's
    /// directory, in small batches.
    func projection<History: EventHistory>(of history: History, batchSize: Int = 3) throws
        -> DirectoryProjection<History>
    {
        DirectoryProjection(
            history: history, replica: try directory, configuration: .init(batchSize: batchSize), logger: Self.quiet)
    }

    /// Applies the event log after the directory's position to the directory, as the projection does.
    func project(batchSize: Int = 3) async throws {
        try await catchUp(store, batchSize: batchSize)
    }

    /// Empties the directory and replays the whole log into it, as the projection does.
    func rebuild() async throws {
        try await rebuild(store)
    }

    // The store's type, opened: a projection is generic over its history.
    private func catchUp<History: EventHistory>(_ history: History, batchSize: Int) async throws {
        try await projection(of: history, batchSize: batchSize).catchUp()
    }

    private func rebuild<History: EventHistory>(_ history: History) async throws {
        try await projection(of: history).rebuild()
    }

    /// A logger that drops everything: the contract's own output stays out of the embedder's test log.
    static let quiet = Logger(label: "contract", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Every user of the write model as a directory entry, in id order.
    func writeModelEntries() async throws -> [DirectoryEntry] {
        try await allPages(limit: 100).flatMap(\.users).map(DirectoryEntry.init)
    }

    /// Every page from the start, at `limit` users a page.
    func allPages(limit: Int) async throws -> [UserPage] {
        var pages: [UserPage] = []
        var cursor: PageCursor?
        repeat {
            let page = try await repository.page(after: cursor, limit: limit)
            pages.append(page)
            cursor = page.nextCursor
            try expect.that(pages.count < 10_000, "paging does not end")
        } while cursor != nil
        return pages
    }
}

/// Milliseconds that grow by one per call.
private final class Ticker: Sendable {
    private let value = Locked<Int64>(1_764_000_000_000)

    func next() -> Int64 {
        value.withLock { value in
            value += 1
            return value
        }
    }
}
