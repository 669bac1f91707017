import Foundation
import Logging
import UserDomain
public import UserPorts

/// The contract every user store must honour, as a list of checks that run against a fresh store each.
///
/// Every adapter of this package runs the whole suite against a real instance (the in-memory actor, a
/// SQLite file, a PostgreSQL server), and so can the author of a new adapter. The checks state what the
/// ports document: lookups, case-insensitive e-mail uniqueness, keyset paging across concurrent inserts,
/// optimistic versions on update and delete, events committed with the change and never without it, event
/// order, and races (100 tasks registering one e-mail, 100 tasks renaming one user: exactly one wins).
///
/// With Swift Testing, one test case per check:
///
/// ```swift
/// @Test(arguments: UserStoreContract.checks)
/// func contract(_ check: UserStoreContract.Check) async throws {
///     try await UserStoreContract { body in
///         let store = MyUserStore()          // a fresh, empty store per check
///         try await body(store)
///         await store.close()                // clean up, also after a failure
///     }.run(check)
/// }
/// ```
///
/// A failed expectation throws a ``ContractViolation`` naming the check; errors thrown by the store itself
/// propagate unchanged.
public struct UserStoreContract: Sendable {
    /// Gives a check a fresh, empty store and cleans up after it: it calls `body` once with the store.
    public typealias StoreProvider =
        @Sendable (_ body: @Sendable (any UserStore) async throws -> Void) async throws -> Void

    /// One named check of the contract.
    public struct Check: Sendable, CustomStringConvertible {
        /// What the check shows, as a sentence.
        public let name: String
        let body: @Sendable (Fixture) async throws -> Void

        /// The name.
        public var description: String { name }
    }

    private let provider: StoreProvider

    /// Creates the suite over a provider of fresh stores.
    public init(provider: @escaping StoreProvider) {
        self.provider = provider
    }

    /// Runs one check against a fresh store.
    ///
    /// - Throws: ``ContractViolation`` when the store breaks the contract, or the store's own error.
    public func run(_ check: Check) async throws {
        try await provider { store in
            try await check.body(Fixture(store: store, expect: Expectations(check: check.name)))
        }
    }

    /// Runs every check, each against a fresh store, and returns the failures (empty when the store
    /// passes).
    public func runAll() async -> [(check: String, error: any Error)] {
        var failures: [(check: String, error: any Error)] = []
        for check in Self.checks {
            do {
                try await run(check)
            } catch {
                failures.append((check.name, error))
            }
        }
        return failures
    }

    /// Every check, in a stable order.
    public static let checks: [Check] =
        lookupChecks + uniquenessChecks + versionChecks + deletionChecks + outboxChecks + pagingChecks
        + concurrencyChecks + fidelityChecks + batchChecks + deliveryChecks + directoryChecks
}

/// What a check works with: the store under test and helpers to make users.
struct Fixture: Sendable {
    let store: any UserStore
    let expect: Expectations
    private let clock = Ticker()

    init(store: any UserStore, expect: Expectations) {
        self.store = store
        self.expect = expect
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
        try await store.save(change.user, expectedVersion: 0, events: change.events)
        return change.user
    }

    /// Applies an operation to a user and saves it at the user's version.
    func apply(_ user: User, _ operation: (User, Date, UUID) throws -> UserChange) async throws -> User {
        let change = try operation(user, now(), Self.ids.makeEventID())
        try await store.save(change.user, expectedVersion: user.version, events: change.events)
        return change.user
    }

    @discardableResult
    func rename(_ user: User, _ name: String) async throws -> User {
        try await apply(user) { user, now, id in try user.renamed(to: DisplayName(name), at: now, eventID: id) }
    }

    func allEvents() async throws -> [OutboxEvent] {
        try await store.unpublishedEvents(limit: 1_000_000)
    }

    /// Applies the event log after the directory's checkpoint to the directory, as the projection does.
    func project(batchSize: Int = 3) async throws {
        while true {
            let events = try await store.events(after: try await store.directoryPosition(), limit: batchSize)
            guard !events.isEmpty else { return }
            try await store.applyToDirectory(events)
        }
    }

    /// Every user of the write model as a directory entry, in id order.
    func writeModelEntries() async throws -> [DirectoryEntry] {
        try await allPages(limit: 100).flatMap(\.users).map(DirectoryEntry.init)
    }

    /// Every page from the start, at `limit` users a page.
    func allPages(limit: Int) async throws -> [UserPage] {
        var pages: [UserPage] = []
        var cursor: PageCursor?
        repeat {
            let page = try await store.page(after: cursor, limit: limit)
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

extension UserStoreContract {
    static func check(_ name: String, _ body: @escaping @Sendable (Fixture) async throws -> Void) -> Check {
        Check(name: name, body: body)
    }

    // MARK: Lookups

    static let lookupChecks: [Check] = [
        check("a saved user is found by id with every field intact") { f in
            let user = try await f.register(email: "Grace.Hopper@Navy.mil", name: "Grace Hopper")
            let found = try f.expect.unwrap(try await f.store.user(id: user.id), "user(id:)")
            try f.expect.equal(found, user, "the user read back")
            try f.expect.equal(found.version, 1, "version")
            try f.expect.equal(found.status, .active, "status")
        },
        check("an unknown id finds nothing") { f in
            try await f.register()
            try f.expect.that(try await f.store.user(id: Fixture.ids.makeUserID()) == nil, "user(id:) of an unknown id")
        },
        check("lookup by e-mail ignores letter case and keeps the spelling") { f in
            let user = try await f.register(email: "Ada.Lovelace@Example.COM")
            for spelling in ["ada.lovelace@example.com", "ADA.LOVELACE@EXAMPLE.COM", "Ada.Lovelace@Example.COM"] {
                let found = try f.expect.unwrap(
                    try await f.store.user(email: EmailAddress(spelling)), "user(email: \(spelling))")
                try f.expect.equal(found.id, user.id, "the user found by \(spelling)")
                try f.expect.equal(found.email.value, "Ada.Lovelace@Example.COM", "the stored spelling")
            }
        },
        check("an unknown e-mail finds nothing") { f in
            try await f.register(email: "known@example.com")
            let found = try await f.store.user(email: EmailAddress("unknown@example.com"))
            try f.expect.that(found == nil, "user(email:) of an unknown address")
        },
    ]

    // MARK: Uniqueness

    static let uniquenessChecks: [Check] = [
        check("an e-mail that differs only in letter case is taken") { f in
            try await f.register(email: "A@x.io")
            let second = try f.registration(email: "a@X.IO")
            try await f.expect.throwsError(.emailTaken(second.user.email), "registering a@X.IO after A@x.io") {
                try await f.store.save(second.user, expectedVersion: 0, events: second.events)
            }
        },
        check("a taken e-mail writes neither the row nor its event") { f in
            try await f.register(email: "taken@example.com")
            let before = try await f.allEvents().count
            let second = try f.registration(email: "TAKEN@example.com")
            _ = try? await f.store.save(second.user, expectedVersion: 0, events: second.events)
            try f.expect.that(try await f.store.user(id: second.user.id) == nil, "the refused user is not stored")
            try f.expect.equal(try await f.allEvents().count, before, "events after the refused save")
        },
        check("changing to another user's e-mail is refused and changes nothing") { f in
            try await f.register(email: "first@example.com")
            let second = try await f.register(email: "second@example.com")
            let before = try await f.allEvents().count
            let change = try second.changingEmail(to: EmailAddress("FIRST@example.com"), at: f.now())
            try await f.expect.throwsError(.emailTaken(change.user.email), "taking another user's address") {
                try await f.store.save(change.user, expectedVersion: second.version, events: change.events)
            }
            try f.expect.equal(try await f.store.user(id: second.id), second, "the user after the refused change")
            try f.expect.equal(try await f.allEvents().count, before, "events after the refused change")
        },
        check("changing only the letter case of one's own e-mail succeeds") { f in
            let user = try await f.register(email: "case@example.com")
            let changed = try await f.apply(user) { user, now, id in
                try user.changingEmail(to: EmailAddress("Case@Example.com"), at: now, eventID: id)
            }
            let found = try f.expect.unwrap(try await f.store.user(email: EmailAddress("CASE@EXAMPLE.COM")), "lookup")
            try f.expect.equal(found, changed, "the user after a case-only change")
            try f.expect.equal(found.email.value, "Case@Example.com", "the new spelling")
            try f.expect.equal(found.version, 2, "version after a case-only change")
        },
        check("an e-mail freed by a change can be registered again") { f in
            let user = try await f.register(email: "old@example.com")
            let changed = try await f.apply(user) { user, now, id in
                try user.changingEmail(to: EmailAddress("new@example.com"), at: now, eventID: id)
            }
            try f.expect.that(
                try await f.store.user(email: EmailAddress("old@example.com")) == nil, "old address lookup")
            let other = try await f.register(email: "OLD@example.com")
            try f.expect.equal(
                try await f.store.user(email: EmailAddress("old@example.com"))?.id, other.id, "new owner")
            try f.expect.equal(try await f.store.user(email: EmailAddress("new@example.com"))?.id, changed.id, "mover")
        },
        check("an e-mail freed by a deletion can be registered again") { f in
            let user = try await f.register(email: "gone@example.com")
            let deletion = user.deleted(at: f.now())
            try await f.store.delete(id: user.id, expectedVersion: user.version, events: deletion.events)
            let other = try await f.register(email: "Gone@Example.com")
            try f.expect.equal(try await f.store.user(email: EmailAddress("gone@example.com"))?.id, other.id, "owner")
        },
        check("one mailbox is one account: IDNA domains, fullwidth letters and case folding are one address") { f in
            // Each pair names one mailbox; the first registers, the second is taken, and both find the first.
            let pairs = [
                ("idn@bücher.de", "idn@xn--bcher-kva.de"), ("ace@XN--BCHER-KVA.de", "Ace@Bücher.DE"),
                ("fd@ｅｘａｍｐｌｅ.com", "fd@example.com"), ("ｆｗ@example.com", "FW@example.com"),
                ("σίσυφος@example.gr", "ΣΊΣΥΦΟΣ@example.gr"), ("ςς@example.gr", "σσ@example.gr"),
                ("straße@example.de", "STRASSE@example.de"),
            ]
            for (first, second) in pairs {
                let user = try await f.register(email: first)
                let twin = try f.registration(email: second)
                try await f.expect.throwsError(.emailTaken(twin.user.email), "registering \(second) after \(first)") {
                    try await f.store.save(twin.user, expectedVersion: 0, events: twin.events)
                }
                for spelling in [first, second] {
                    let found = try f.expect.unwrap(
                        try await f.store.user(email: EmailAddress(spelling)), "user(email: \(spelling))")
                    try f.expect.equal(found.id, user.id, "the user found by \(spelling)")
                    try f.expect.equal(found.email.value, first, "the stored spelling of \(first)")
                    try f.expect.equal(found.email.canonical, user.email.canonical, "the canonical form read back")
                }
            }
            // Nontransitional IDNA: faß.de and fass.de are two domains, so two accounts.
            let sharp = try await f.register(email: "a@faß.de")
            let plain = try await f.register(email: "a@fass.de")
            try f.expect.that(sharp.id != plain.id, "a@faß.de and a@fass.de are two accounts")
        },
        check("changing to another spelling of another user's mailbox is refused") { f in
            try await f.register(email: "owner@bücher.de")
            let second = try await f.register(email: "second@example.com")
            let change = try second.changingEmail(to: EmailAddress("OWNER@xn--bcher-kva.de"), at: f.now())
            try await f.expect.throwsError(.emailTaken(change.user.email), "taking owner@bücher.de as A-labels") {
                try await f.store.save(change.user, expectedVersion: second.version, events: change.events)
            }
            try f.expect.equal(try await f.store.user(id: second.id), second, "the user after the refused change")
        },
    ]

    // MARK: Versions

    static let versionChecks: [Check] = [
        check("inserting an id that exists is a version conflict") { f in
            let user = try await f.register()
            let again = try f.registration(id: user.id)
            try await f.expect.throwsError(.versionConflict(user.id, expected: 0, actual: 1), "inserting twice") {
                try await f.store.save(again.user, expectedVersion: 0, events: again.events)
            }
        },
        check("an update at the current version is saved") { f in
            let user = try await f.register(name: "Before")
            let renamed = try await f.rename(user, "After")
            let found = try f.expect.unwrap(try await f.store.user(id: user.id), "user(id:)")
            try f.expect.equal(found, renamed, "the user after an update")
            try f.expect.equal(found.version, 2, "version")
            try f.expect.equal(found.createdAt, user.createdAt, "createdAt")
            try f.expect.that(found.updatedAt > user.updatedAt, "updatedAt moves forward")
        },
        check("an update at a stale version is a conflict and changes nothing") { f in
            let user = try await f.register(name: "Original")
            let first = try await f.rename(user, "First")
            let stale = try user.renamed(to: DisplayName("Stale"), at: f.now())
            try await f.expect.throwsError(.versionConflict(user.id, expected: 1, actual: 2), "a stale update") {
                try await f.store.save(stale.user, expectedVersion: 1, events: stale.events)
            }
            try f.expect.equal(try await f.store.user(id: user.id), first, "the user after the stale update")
        },
        check("a failed update leaves no event") { f in
            let user = try await f.register()
            _ = try await f.rename(user, "Second")
            let before = try await f.allEvents()
            let stale = try user.renamed(to: DisplayName("Stale"), at: f.now())
            _ = try? await f.store.save(stale.user, expectedVersion: 1, events: stale.events)
            try f.expect.equal(try await f.allEvents(), before, "events after a failed update")
        },
        check("an update of a missing user is not found") { f in
            let ghost = try f.registration().user.renamed(to: DisplayName("Ghost"), at: f.now())
            try await f.expect.throwsError(.notFound(ghost.user.id), "updating a missing user") {
                try await f.store.save(ghost.user, expectedVersion: 1, events: ghost.events)
            }
            try f.expect.equal(try await f.allEvents().count, 0, "events after a failed update")
        },
        check("status changes are stored") { f in
            let user = try await f.register()
            let off = try await f.apply(user) { user, now, id in user.deactivated(at: now, eventID: id) }
            try f.expect.equal(try await f.store.user(id: user.id)?.status, .deactivated, "status after deactivate")
            let on = try await f.apply(off) { user, now, id in user.reactivated(at: now, eventID: id) }
            try f.expect.equal(try await f.store.user(id: user.id), on, "the user after reactivate")
        },
    ]

    // MARK: Deletion

    static let deletionChecks: [Check] = [
        check("a deleted user is gone from lookups and pages") { f in
            let keep = try await f.register(email: "keep@example.com")
            let user = try await f.register(email: "delete.me@example.com")
            let deletion = user.deleted(at: f.now())
            try await f.store.delete(id: user.id, expectedVersion: 1, events: deletion.events)
            try f.expect.that(try await f.store.user(id: user.id) == nil, "lookup by id after delete")
            try f.expect.that(
                try await f.store.user(email: EmailAddress("delete.me@example.com")) == nil, "lookup by e-mail")
            let page = try await f.store.page(after: nil, limit: 10)
            try f.expect.equal(page.users.map(\.id), [keep.id], "page after delete")
        },
        check("a delete at a stale version is a conflict and keeps the user") { f in
            let user = try await f.register()
            let renamed = try await f.rename(user, "Renamed")
            let before = try await f.allEvents()
            let deletion = user.deleted(at: f.now())
            try await f.expect.throwsError(.versionConflict(user.id, expected: 1, actual: 2), "a stale delete") {
                try await f.store.delete(id: user.id, expectedVersion: 1, events: deletion.events)
            }
            try f.expect.equal(try await f.store.user(id: user.id), renamed, "the user after a stale delete")
            try f.expect.equal(try await f.allEvents(), before, "events after a stale delete")
        },
        check("a delete of a missing user is not found") { f in
            let ghost = try f.registration().user
            try await f.expect.throwsError(.notFound(ghost.id), "deleting a missing user") {
                try await f.store.delete(id: ghost.id, expectedVersion: 1, events: ghost.deleted(at: f.now()).events)
            }
            try f.expect.equal(try await f.allEvents().count, 0, "events after a failed delete")
        },
        check("a delete commits its event") { f in
            let user = try await f.register()
            let deletion = user.deleted(at: f.now())
            let position = try await f.store.delete(id: user.id, expectedVersion: 1, events: deletion.events)
            let last = try f.expect.unwrap(try await f.allEvents().last, "the last event")
            try f.expect.equal(last.envelope, deletion.events[0], "the deletion event")
            try f.expect.equal(position, last.position, "the position delete returned")
            try f.expect.equal(last.envelope.userVersion, 2, "the deleted event's user version")
        },
    ]

    // MARK: Outbox

    static let outboxChecks: [Check] = [
        check("a save commits its events with the change") { f in
            let change = try f.registration(email: "Events@Example.com", name: "Eve")
            let position = try await f.store.save(change.user, expectedVersion: 0, events: change.events)
            let events = try await f.allEvents()
            try f.expect.equal(events.map(\.envelope), change.events, "the outbox after one registration")
            try f.expect.equal(position, events.last?.position, "the position save returned")
        },
        check("every event type survives the round trip") { f in
            let user = try await f.register(email: "trip@example.com", name: "Trip")
            var expected = try await f.allEvents().map(\.envelope)
            var current = user
            let steps: [@Sendable (User, Date, UUID) throws -> UserChange] = [
                { u, n, i in try u.renamed(to: DisplayName("Trip Renamed"), at: n, eventID: i) },
                { u, n, i in try u.changingEmail(to: EmailAddress("Trip@Elsewhere.org"), at: n, eventID: i) },
                { u, n, i in u.deactivated(at: n, eventID: i) },
                { u, n, i in u.reactivated(at: n, eventID: i) },
            ]
            for step in steps {
                let change = try step(current, f.now(), Fixture.ids.makeEventID())
                try await f.store.save(change.user, expectedVersion: current.version, events: change.events)
                expected += change.events
                current = change.user
            }
            let deletion = current.deleted(at: f.now())
            try await f.store.delete(id: user.id, expectedVersion: current.version, events: deletion.events)
            expected += deletion.events
            let stored = try await f.allEvents().map(\.envelope)
            try f.expect.equal(stored, expected, "the event log")
            try f.expect.equal(stored.map(\.type), UserEvent.typeNames, "event types")
        },
        check("a save without events writes the change and no event") { f in
            let change = try f.registration()
            let position = try await f.store.save(change.user, expectedVersion: 0, events: [])
            try f.expect.that(position == nil, "save without events returns no position")
            try f.expect.equal(try await f.store.user(id: change.user.id), change.user, "the saved user")
            try f.expect.equal(try await f.allEvents().count, 0, "events")
        },
        check("positions grow in commit order across users") { f in
            var returned: [EventPosition] = []
            for index in 0..<5 {
                let change = try f.registration(id: Fixture.orderedID(100 - index))
                returned.append(
                    try f.expect.unwrap(
                        try await f.store.save(change.user, expectedVersion: 0, events: change.events), "position"))
            }
            let events = try await f.allEvents()
            try f.expect.equal(events.map(\.position), returned, "positions in the outbox")
            try f.expect.equal(returned, returned.sorted(), "positions in commit order")
            try f.expect.equal(Set(returned).count, 5, "distinct positions")
        },
        check("the events of one user are in version order") { f in
            var user = try await f.register(name: "V1")
            for version in 2...6 { user = try await f.rename(user, "V\(version)") }
            let versions = try await f.allEvents().filter { $0.envelope.userID == user.id }.map(\.envelope.userVersion)
            try f.expect.equal(versions, [1, 2, 3, 4, 5, 6], "user versions in position order")
        },
        check("published events are no longer unpublished and the limit is honoured") { f in
            for _ in 0..<5 { try await f.register() }
            let first = try await f.store.unpublishedEvents(limit: 2)
            try f.expect.equal(first.count, 2, "events with limit 2")
            try await f.store.markPublished(first.map(\.position))
            let rest = try await f.store.unpublishedEvents(limit: 10)
            try f.expect.equal(rest.count, 3, "unpublished after marking 2 of 5")
            try f.expect.that(rest.allSatisfy { $0.position > first[1].position }, "the rest follows the first two")
            try await f.store.markPublished(rest.map(\.position))
            try f.expect.equal(try await f.store.unpublishedEvents(limit: 10).count, 0, "unpublished after all")
        },
        check("marking unknown or already published positions is harmless") { f in
            try await f.register()
            try await f.register()
            let events = try await f.allEvents()
            try f.expect.equal(events.count, 2, "events of two registrations")
            try await f.store.markPublished([events[0].position])
            try await f.store.markPublished([events[0].position, EventPosition(rawValue: 999_999)])
            try f.expect.equal(try await f.allEvents(), [events[1]], "unpublished events")
            try await f.store.markPublished([])
        },
        check("a commit with events raises the commit signal") { f in
            let before = f.store.commitSignal.generation
            try await f.register()
            try f.expect.that(f.store.commitSignal.generation > before, "the signal's generation after a save")
        },
    ]

    // MARK: Paging

    static let pagingChecks: [Check] = [
        check("an empty store has one empty last page") { f in
            let page = try await f.store.page(after: nil, limit: 10)
            try f.expect.that(page.users.isEmpty && page.nextCursor == nil, "the page of an empty store")
        },
        check("pages cover every user once, in id order") { f in
            var ids: [UserID] = []
            for key in [17, 3, 25, 9, 1, 12, 20, 5, 8, 22, 14, 2, 19, 11, 24, 6, 16, 4, 23, 10, 15, 7, 21, 13, 18] {
                ids.append(try await f.register(id: Fixture.orderedID(key)).id)
            }
            let pages = try await f.allPages(limit: 10)
            try f.expect.equal(pages.map(\.users.count), [10, 10, 5], "page sizes")
            try f.expect.equal(pages.flatMap(\.users).map(\.id), ids.sorted(), "ids over all pages")
        },
        check("an exactly full last page has no next cursor") { f in
            for key in 1...20 { try await f.register(id: Fixture.orderedID(key)) }
            let pages = try await f.allPages(limit: 10)
            try f.expect.equal(pages.map(\.users.count), [10, 10], "page sizes")
            try f.expect.that(pages[0].nextCursor != nil && pages[1].nextCursor == nil, "cursors")
        },
        check("keyset paging shows users inserted after the cursor, not before") { f in
            for key in stride(from: 10, through: 100, by: 10) { try await f.register(id: Fixture.orderedID(key)) }
            let first = try await f.store.page(after: nil, limit: 3)
            try f.expect.equal(first.users.map(\.id), [10, 20, 30].map(Fixture.orderedID), "first page")
            try await f.register(id: Fixture.orderedID(5))
            try await f.register(id: Fixture.orderedID(35))
            try await f.register(id: Fixture.orderedID(105))
            var seen = first.users.map(\.id)
            var cursor = first.nextCursor
            while let current = cursor {
                let page = try await f.store.page(after: current, limit: 3)
                seen += page.users.map(\.id)
                cursor = page.nextCursor
            }
            let expected = [10, 20, 30, 35, 40, 50, 60, 70, 80, 90, 100, 105].map(Fixture.orderedID)
            try f.expect.equal(seen, expected, "ids seen across pages with inserts between them")
        },
        check("keyset paging continues after the cursor's own user is deleted") { f in
            var users: [User] = []
            for key in 1...6 { users.append(try await f.register(id: Fixture.orderedID(key))) }
            let first = try await f.store.page(after: nil, limit: 3)
            try await f.store.delete(id: users[2].id, expectedVersion: 1, events: users[2].deleted(at: f.now()).events)
            try await f.store.delete(id: users[3].id, expectedVersion: 1, events: users[3].deleted(at: f.now()).events)
            let second = try await f.store.page(after: first.nextCursor, limit: 3)
            try f.expect.equal(second.users.map(\.id), [5, 6].map(Fixture.orderedID), "the page after deletes")
            try f.expect.that(second.nextCursor == nil, "the last page's cursor")
        },
        check("page sizes outside 1...maximumLimit are refused") { f in
            try await f.register()
            for limit in [0, -1, UserPage.maximumLimit + 1] {
                try await f.expect.throwsError(.invalidPageSize(limit), "page(limit: \(limit))") {
                    try await f.store.page(after: nil, limit: limit)
                }
            }
            let page = try await f.store.page(after: nil, limit: UserPage.maximumLimit)
            try f.expect.equal(page.users.count, 1, "the largest page size is accepted")
        },
        check("a cursor past every id gives an empty last page") { f in
            try await f.register()
            let last = UserID("ffffffff-ffff-ffff-ffff-ffffffffffff")!
            let page = try await f.store.page(after: PageCursor(after: last), limit: 10)
            try f.expect.that(page.users.isEmpty && page.nextCursor == nil, "the page after the largest id")
        },
    ]

    // MARK: Concurrency

    static let concurrencyChecks: [Check] = [
        check("100 tasks registering one e-mail: exactly one wins") { f in
            let spellings = ["race@example.com", "Race@Example.com", "RACE@EXAMPLE.COM", "race@EXAMPLE.com"]
            let changes = try (0..<100).map { try f.registration(email: spellings[$0 % spellings.count]) }
            let results = await withTaskGroup(of: (any Error)?.self) { group in
                for change in changes {
                    group.addTask {
                        do {
                            try await f.store.save(change.user, expectedVersion: 0, events: change.events)
                            return nil
                        } catch {
                            return error
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let wins = results.filter { $0 == nil }.count
            let taken = results.filter {
                if case .emailTaken? = $0 as? UserError { true } else { false }
            }.count
            try f.expect.equal(wins, 1, "registrations that succeeded")
            let others = results.compactMap { $0 }.filter {
                if case .emailTaken? = $0 as? UserError { false } else { true }
            }
            try f.expect.equal(taken, 99, "registrations refused as e-mail taken (other errors: \(others.prefix(3)))")
            let events = try await f.allEvents()
            try f.expect.equal(events.count, 1, "events committed")
            let winner = try f.expect.unwrap(try await f.store.user(email: EmailAddress("race@example.com")), "winner")
            try f.expect.equal(events.first?.envelope.userID, winner.id, "the event's user")
        },
        check("100 tasks renaming one user at the same version: exactly one wins") { f in
            let user = try await f.register(name: "Contended")
            let changes = try (0..<100).map { try user.renamed(to: DisplayName("Winner \($0)"), at: f.now()) }
            let results = await withTaskGroup(of: (any Error)?.self) { group in
                for change in changes {
                    group.addTask {
                        do {
                            try await f.store.save(change.user, expectedVersion: 1, events: change.events)
                            return nil
                        } catch {
                            return error
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            try f.expect.equal(results.filter { $0 == nil }.count, 1, "renames that succeeded")
            let conflicts = results.filter { $0 as? UserError == .versionConflict(user.id, expected: 1, actual: 2) }
            let others = results.compactMap { $0 }.filter {
                $0 as? UserError != .versionConflict(user.id, expected: 1, actual: 2)
            }
            try f.expect.equal(
                conflicts.count, 99, "renames refused as version conflicts (other errors: \(others.prefix(3)))")
            let stored = try f.expect.unwrap(try await f.store.user(id: user.id), "the user")
            try f.expect.equal(stored.version, 2, "version after the race")
            let renames = try await f.allEvents().filter { $0.envelope.type == "user.renamed" }
            try f.expect.equal(renames.count, 1, "rename events committed")
            try f.expect.equal(
                renames.first?.envelope.event, .renamed(displayName: stored.displayName, previous: user.displayName),
                "the committed event matches the stored name")
        },
        check("concurrent registrations of distinct e-mails all succeed") { f in
            let changes = try (0..<50).map { _ in try f.registration() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for change in changes {
                    group.addTask { try await f.store.save(change.user, expectedVersion: 0, events: change.events) }
                }
                try await group.waitForAll()
            }
            let events = try await f.allEvents()
            try f.expect.equal(events.count, 50, "events committed")
            try f.expect.equal(Set(events.map(\.position)).count, 50, "distinct positions")
            let pages = try await f.allPages(limit: 7)
            try f.expect.equal(Set(pages.flatMap(\.users).map(\.id)), Set(changes.map(\.user.id)), "users stored")
        },
    ]

    // MARK: Fidelity

    static let fidelityChecks: [Check] = [
        check("Unicode names and addresses are stored exactly") { f in
            let user = try await f.register(email: "José.Núñez@Exämple.com", name: "Zoë 👩‍💻 Ōtsuka")
            let found = try f.expect.unwrap(
                try await f.store.user(email: EmailAddress("josé.núñez@exämple.COM")), "lookup")
            try f.expect.equal(found, user, "the Unicode user read back")
            try f.expect.equal(found.displayName.value, "Zoë 👩‍💻 Ōtsuka", "the name")
        },
        check("timestamps keep millisecond precision") { f in
            let created = Date(timeIntervalSince1970: 1_700_000_000.123)
            let change = User.register(
                id: Fixture.ids.makeUserID(), email: try EmailAddress(Fixture.uniqueEmail()),
                displayName: try DisplayName("Precise"), at: created)
            try await f.store.save(change.user, expectedVersion: 0, events: change.events)
            let found = try f.expect.unwrap(try await f.store.user(id: change.user.id), "user")
            try f.expect.equal(found.createdAt.epochMilliseconds, 1_700_000_000_123, "createdAt in ms")
            try f.expect.equal(found.updatedAt, change.user.updatedAt, "updatedAt")
            try f.expect.equal(
                try await f.allEvents().first?.envelope.occurredAt, created.roundedToMilliseconds, "occurredAt")
        },
        check("a long address and a 100-character name are stored exactly") { f in
            let local = String(repeating: "l", count: 64)
            let domain =
                String(repeating: "d", count: 63) + "." + String(repeating: "e", count: 63) + "."
                + String(repeating: "f", count: 58) + ".io"
            let email = local + "@" + domain
            let name = String(repeating: "é", count: 100)
            let user = try await f.register(email: email, name: name)
            try f.expect.equal(email.utf8.count, EmailAddress.maximumLength, "the test address length")
            try f.expect.equal(try await f.store.user(id: user.id), user, "the user read back")
        },
    ]

    // MARK: Batches

    static let batchChecks: [Check] = [
        check("a batch inserts every user with its events, in batch order") { f in
            let batch = try (0..<5).map {
                // Characters that need quoting in SQL array literals and JSON: quotes, backslash, braces, NULL.
                try f.registration(id: Fixture.orderedID(50 - $0), name: "Batch \($0) \"q\" \\ ,{} NULL é 👩‍💻")
            }
            let before = f.store.commitSignal.generation
            let outcome = try await f.store.insert(batch)
            try f.expect.equal(outcome.insertedCount, 5, "inserted count")
            try f.expect.that(outcome.rejected.isEmpty, "no rejection, got \(outcome.rejected)")
            for change in batch {
                try f.expect.equal(try await f.store.user(id: change.user.id), change.user, "a user of the batch")
            }
            let events = try await f.allEvents()
            try f.expect.equal(events.map(\.envelope), batch.flatMap(\.events), "events in batch order")
            try f.expect.equal(outcome.lastPosition, events.last?.position, "the last position")
            try f.expect.that(f.store.commitSignal.generation > before, "the commit signal after a batch")
        },
        check("a batch skips users whose e-mail or id is taken and commits the rest") { f in
            let stored = try await f.rename(try await f.register(email: "Stored@Example.com"), "Stored Twice")
            let first = try f.registration(email: "first@example.com")
            let second = try f.registration(email: "second@example.com")
            let batch = [
                first,
                try f.registration(email: "STORED@example.com"),
                second,
                try f.registration(email: "First@Example.com"),
                try f.registration(id: second.user.id, email: "other@example.com"),
                try f.registration(id: stored.id, email: "another@example.com"),
            ]
            let eventsBefore = try await f.allEvents()
            let outcome = try await f.store.insert(batch)
            try f.expect.equal(outcome.insertedCount, 2, "inserted count")
            try f.expect.equal(
                outcome.rejected,
                [
                    1: .emailTaken(batch[1].user.email), 3: .emailTaken(batch[3].user.email),
                    4: .versionConflict(second.user.id, expected: 0, actual: 1),
                    5: .versionConflict(stored.id, expected: 0, actual: stored.version),
                ], "rejections")
            try f.expect.equal(try await f.store.user(id: first.user.id), first.user, "first")
            try f.expect.equal(try await f.store.user(id: second.user.id), second.user, "second, not its duplicate id")
            try f.expect.equal(try await f.store.user(id: stored.id), stored, "the stored user")
            for index in [1, 3] {
                try f.expect.that(try await f.store.user(id: batch[index].user.id) == nil, "rejected \(index) stored")
            }
            let events = try await f.allEvents()
            try f.expect.equal(
                events.map(\.envelope), eventsBefore.map(\.envelope) + first.events + second.events,
                "events of the inserted users only")
            try f.expect.equal(outcome.lastPosition, events.last?.position, "the last position")
        },
        check("an empty batch writes nothing") { f in
            try await f.register()
            let before = try await f.allEvents()
            try f.expect.equal(try await f.store.insert([]), BatchInsertOutcome(), "the outcome of an empty batch")
            try f.expect.equal(try await f.allEvents(), before, "events")
        },
        check("two batches racing for one e-mail insert it once") { f in
            let batches = try (0..<8).map { index in
                [
                    try f.registration(email: "Race.\(index)@example.com"),
                    try f.registration(email: "Contested@example.com"),
                ]
            }
            let outcomes = try await withThrowingTaskGroup(of: BatchInsertOutcome.self) { group in
                for batch in batches { group.addTask { try await f.store.insert(batch) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            try f.expect.equal(outcomes.map(\.insertedCount).reduce(0, +), 9, "users inserted by 8 batches")
            try f.expect.equal(outcomes.filter { $0.rejected.isEmpty }.count, 1, "batches that won the e-mail")
            let owner = try f.expect.unwrap(
                try await f.store.user(email: EmailAddress("contested@example.com")), "the contested address")
            try f.expect.that(
                batches.contains { $0[1].user.id == owner.id }, "the owner is one of the batches' users")
            try f.expect.equal(try await f.allEvents().count, 9, "events")
        },
    ]

    // MARK: Delivery state, history, lease

    static let deliveryChecks: [Check] = [
        check("a failed event waits for its retry time and holds back its user's later events only") { f in
            let ada = try await f.register(email: "ada@example.com")
            try await f.rename(ada, "Ada Two")
            try await f.register(email: "bob@example.com")
            let all = try await f.allEvents()
            try f.expect.equal(all.count, 3, "events")
            try await f.store.markFailed(
                all[0].position, reason: "broker down", retryAt: Date().addingTimeInterval(3600))
            try f.expect.equal(
                try await f.store.unpublishedEvents(limit: 10).map(\.position), [all[2].position],
                "due events while Ada's first waits")
            try await f.store.markFailed(all[0].position, reason: "still down", retryAt: Date().addingTimeInterval(-1))
            let due = try await f.store.unpublishedEvents(limit: 10)
            try f.expect.equal(due.map(\.position), all.map(\.position), "due events once the retry time passed")
            try f.expect.equal(due[0].attempts, 2, "attempts after two failures")
            try f.expect.equal(due[0].lastError, "still down", "the last error")
            try f.expect.equal(due[1].attempts, 0, "attempts of an event never tried")
        },
        check("a dead event is listed, holds back its user, and is revived by a retry") { f in
            let ada = try await f.register(email: "ada@example.com")
            try await f.rename(ada, "Ada Two")
            try await f.register(email: "bob@example.com")
            let all = try await f.allEvents()
            try f.expect.equal(all.count, 3, "events in the outbox")
            try await f.store.markFailed(all[0].position, reason: "rejected", retryAt: nil)
            try f.expect.equal(try await f.store.deadEvents(limit: 10).map(\.position), [all[0].position], "dead")
            try f.expect.equal(
                try await f.store.unpublishedEvents(limit: 10).map(\.position), [all[2].position], "due with one dead")
            let status = try await f.store.outboxStatus()
            try f.expect.equal(status.deadCount, 1, "dead count")
            try f.expect.equal(status.pendingCount, 2, "pending count (a held event is pending)")
            try f.expect.equal(status.oldestPendingAt, all[1].envelope.occurredAt, "the oldest pending time")
            try f.expect.equal(try await f.store.retryDeadEvents(nil), 1, "revived")
            try f.expect.equal(try await f.store.deadEvents(limit: 10).count, 0, "dead after the retry")
            let due = try await f.store.unpublishedEvents(limit: 10)
            try f.expect.equal(due.map(\.position), all.map(\.position), "due after the retry")
            try f.expect.equal(due[0].attempts, 0, "attempts reset")
            try f.expect.that(due[0].lastError == nil, "last error cleared")
        },
        check("events published past a held user stay pending until it is revived, then go in order") { f in
            let ada = try await f.register(email: "ada@example.com")
            try await f.register(email: "bob@example.com")
            try await f.rename(ada, "Ada Two")
            try await f.register(email: "cy@example.com")
            let events = try await f.allEvents()
            let all = events.map(\.position)
            try f.expect.equal(all.count, 4, "events in the outbox")
            try await f.store.markFailed(all[0], reason: "rejected", retryAt: nil)
            try f.expect.equal(try await f.store.unpublishedEvents(limit: 10).map(\.position), [all[1], all[3]], "due")
            try await f.store.markPublished([all[1], all[3]])
            try f.expect.equal(try await f.store.unpublishedEvents(limit: 10).count, 0, "due while Ada's is dead")
            let dan = try await f.register(email: "dan@example.com")
            let dans = try await f.store.events(after: all[3], limit: 10).map(\.position)
            try f.expect.equal(dans.count, 1, "Dan's event")
            try f.expect.equal(try await f.store.unpublishedEvents(limit: 10).map(\.position), dans, "due: Dan's")
            try await f.store.markPublished(dans)
            try f.expect.equal(
                try await f.store.outboxStatus(),
                OutboxStatus(pendingCount: 1, oldestPendingAt: events[2].envelope.occurredAt, deadCount: 1), "status")
            try f.expect.equal(try await f.store.retryDeadEvents(nil), 1, "revived")
            try f.expect.equal(
                try await f.store.unpublishedEvents(limit: 10).map(\.position), [all[0], all[2]], "due after the retry")
            try await f.store.markPublished([all[0]])
            try await f.store.markFailed(all[2], reason: "busy", retryAt: Date().addingTimeInterval(3600))
            try await f.rename(dan, "Dan Two")
            let last = try await f.store.events(after: dans[0], limit: 10).map(\.position)
            try f.expect.equal(last.count, 1, "Dan's second event")
            try f.expect.equal(
                try await f.store.unpublishedEvents(limit: 10).map(\.position), last, "due while Ada's waits")
            try await f.store.markPublished(last)
            try await f.store.markFailed(all[2], reason: "busy", retryAt: Date().addingTimeInterval(-1))
            try f.expect.equal(try await f.store.unpublishedEvents(limit: 10).map(\.position), [all[2]], "due again")
            try await f.store.markPublished([all[2]])
            try f.expect.equal(try await f.store.unpublishedEvents(limit: 10).count, 0, "due at the end")
            try f.expect.equal(
                try await f.store.outboxStatus(), OutboxStatus(pendingCount: 0, oldestPendingAt: nil, deadCount: 0),
                "status at the end")
        },
        check("a retry of chosen dead positions revives only those") { f in
            try await f.register()
            try await f.register()
            let all = try await f.allEvents()
            try f.expect.equal(all.count, 2, "events in the outbox")
            for event in all { try await f.store.markFailed(event.position, reason: "no", retryAt: nil) }
            try f.expect.equal(try await f.store.retryDeadEvents([all[1].position]), 1, "revived")
            try f.expect.equal(try await f.store.deadEvents(limit: 10).map(\.position), [all[0].position], "still dead")
            try f.expect.equal(try await f.store.retryDeadEvents([all[1].position]), 0, "reviving a live event")
        },
        check("recording a failure of a published or unknown event changes nothing") { f in
            try await f.register()
            let all = try await f.allEvents()
            try f.expect.equal(all.count, 1, "events in the outbox")
            try await f.store.markPublished([all[0].position])
            try await f.store.markFailed(all[0].position, reason: "late", retryAt: nil)
            try await f.store.markFailed(EventPosition(rawValue: 999_999), reason: "unknown", retryAt: nil)
            try f.expect.equal(try await f.store.deadEvents(limit: 10).count, 0, "dead events")
            try f.expect.equal(
                try await f.store.outboxStatus(), OutboxStatus(pendingCount: 0, oldestPendingAt: nil, deadCount: 0),
                "status")
        },
        check("the history keeps published events in order; retention deletes only old published ones") { f in
            for _ in 0..<4 { try await f.register() }
            let all = try await f.allEvents()
            try f.expect.equal(all.count, 4, "events in the outbox")
            try await f.store.markPublished([all[0].position, all[1].position, all[2].position])
            try await f.store.markFailed(all[3].position, reason: "no", retryAt: nil)
            try f.expect.equal(
                try await f.store.events(after: nil, limit: 10),
                all.enumerated().map { index, event in
                    index == 3
                        ? OutboxEvent(position: event.position, envelope: event.envelope, attempts: 1, lastError: "no")
                        : event
                }, "the whole history")
            try f.expect.equal(
                try await f.store.events(after: all[0].position, limit: 2).map(\.position),
                [all[1].position, all[2].position], "after the first, two at most")
            try f.expect.equal(
                try await f.store.deletePublishedEvents(before: all[1].envelope.occurredAt), 1,
                "deleted before the second")
            try f.expect.equal(
                try await f.store.deletePublishedEvents(before: Date().addingTimeInterval(3600)), 2, "deleted the rest")
            try f.expect.equal(
                try await f.store.events(after: nil, limit: 10).map(\.position), [all[3].position], "kept: the dead one"
            )
        },
        check("the relay lease has one holder at a time, renewed by it, free after release or expiry") { f in
            try f.expect.that(try await f.store.acquireRelayLease(owner: "a", duration: .seconds(30)), "a takes it")
            try f.expect.that(
                !(try await f.store.acquireRelayLease(owner: "b", duration: .seconds(30))), "b is refused")
            try f.expect.that(try await f.store.acquireRelayLease(owner: "a", duration: .seconds(30)), "a renews it")
            try await f.store.releaseRelayLease(owner: "b")
            try f.expect.that(
                !(try await f.store.acquireRelayLease(owner: "b", duration: .seconds(30))), "b can't free it")
            try await f.store.releaseRelayLease(owner: "a")
            try f.expect.that(try await f.store.acquireRelayLease(owner: "b", duration: .milliseconds(50)), "b after a")
            try await Task.sleep(for: .milliseconds(200))
            try f.expect.that(try await f.store.acquireRelayLease(owner: "c", duration: .seconds(30)), "c after expiry")
        },
    ]

    // MARK: Directory (the read model)

    static let directoryChecks: [Check] = [
        check("the projected directory equals the write model after every kind of change") { f in
            let ada = try await f.register(email: "Ada@Example.com", name: "Ada")
            let bob = try await f.register(email: "bob@example.com", name: "Bob")
            let carol = try await f.register(email: "carol@example.com", name: "Carol")
            try await f.rename(ada, "Ada Lovelace")
            _ = try await f.apply(bob) { user, now, id in
                try user.changingEmail(to: EmailAddress("Robert@Example.org"), at: now, eventID: id)
            }
            let deactivated = try await f.apply(carol) { user, now, id in user.deactivated(at: now, eventID: id) }
            let gone = try await f.register(email: "gone@example.com", name: "Gone")
            try await f.store.delete(id: gone.id, expectedVersion: 1, events: gone.deleted(at: f.now()).events)
            try f.expect.that(try await f.store.directoryPosition() == nil, "the checkpoint before projecting")
            try f.expect.equal(
                try await f.store.directoryStatistics(), DirectoryStatistics(active: 0, deactivated: 0), "empty")
            try await f.project()
            let entries = try await f.store.searchDirectory(prefix: "", limit: 100).sorted { $0.id < $1.id }
            try f.expect.equal(entries, try await f.writeModelEntries(), "the directory vs the write model")
            try f.expect.equal(
                try await f.store.directoryStatistics(), DirectoryStatistics(active: 2, deactivated: 1), "statistics")
            try f.expect.equal(
                try await f.store.directoryPosition(), try await f.allEvents().last?.position, "the checkpoint")
            try f.expect.equal(deactivated.status, .deactivated, "fixture")
        },
        check("applying a batch again changes nothing") { f in
            let ada = try await f.register(name: "Ada")
            try await f.project()
            let events = try await f.allEvents()
            try await f.rename(ada, "Ada Two")
            try await f.project()
            let before = try await f.store.searchDirectory(prefix: "", limit: 10)
            try await f.store.applyToDirectory(events)  // a redelivery of the first batch
            try f.expect.equal(try await f.store.searchDirectory(prefix: "", limit: 10), before, "after a redelivery")
            try f.expect.equal(before.first?.displayName, "Ada Two", "the name")
        },
        check("directory search matches e-mail or display-name prefixes ignoring case, by name then id") { f in
            try await f.register(email: "ada@example.com", name: "Ada Lovelace")
            try await f.register(email: "zed@example.com", name: "adam Smith")
            try await f.register(email: "ADB@example.com", name: "Bob")
            try await f.register(email: "carol@example.com", name: "Carol")
            try await f.project()
            try f.expect.equal(
                try await f.store.searchDirectory(prefix: "AD", limit: 10).map(\.displayName),
                ["Ada Lovelace", "adam Smith", "Bob"], "prefix AD")
            try f.expect.equal(
                try await f.store.searchDirectory(prefix: "ad", limit: 2).map(\.displayName),
                ["Ada Lovelace", "adam Smith"], "limit 2")
            try f.expect.equal(
                try await f.store.searchDirectory(prefix: "carol@", limit: 10).map(\.email), ["carol@example.com"],
                "an e-mail prefix")
            try f.expect.equal(try await f.store.searchDirectory(prefix: "", limit: 10).count, 4, "everyone")
            try f.expect.equal(try await f.store.searchDirectory(prefix: "x", limit: 10).count, 0, "no one")
            try f.expect.equal(
                try await f.store.searchDirectory(prefix: "%", limit: 10).count, 0, "a wildcard is literal")
        },
        check("a reset directory rebuilt from the log equals the live one") { f in
            var users: [User] = []
            for index in 0..<6 { users.append(try await f.register(name: "User \(index)")) }
            try await f.rename(users[1], "Renamed")
            try await f.store.delete(id: users[2].id, expectedVersion: 1, events: users[2].deleted(at: f.now()).events)
            try await f.project()
            let live = try await f.store.searchDirectory(prefix: "", limit: 100)
            try await f.store.resetDirectory()
            try f.expect.equal(try await f.store.searchDirectory(prefix: "", limit: 100).count, 0, "after the reset")
            try f.expect.that(try await f.store.directoryPosition() == nil, "the checkpoint after the reset")
            try await f.project(batchSize: 100)
            try f.expect.equal(try await f.store.searchDirectory(prefix: "", limit: 100), live, "the rebuilt directory")
        },
        check("a rebuild is refused once retention trimmed the log") { f in
            try await f.register()
            try await f.register()
            let events = try await f.allEvents()
            try f.expect.equal(events.count, 2, "events in the outbox")
            try await f.store.markPublished(events.map(\.position))
            try f.expect.equal(
                try await f.store.deletePublishedEvents(before: Date().addingTimeInterval(3600)), 1,
                "deleted: all but the newest")
            do {
                try await f.store.resetDirectory()
                throw f.expect.fail("resetDirectory succeeded after the log was trimmed")
            } catch let error as UserStoreError {
                try f.expect.equal(error.code, .historyTrimmed, "the error code")
            }
        },
        check("random command sequences: the projection equals the write model, and a rebuild equals both") { f in
            for seed: UInt64 in [1, 2, 3] {
                try await RandomCommands.run(seed: seed, commands: 150, store: f.store, expect: f.expect)
            }
        },
    ]
}

/// Random commands through the use cases, with the projection catching up at random moments: the property
/// that the read model, once caught up, equals the write model, and that a rebuild gives the same.
enum RandomCommands {
    static func run(seed: UInt64, commands: Int, store: any UserStore, expect: Expectations) async throws {
        var random = SplitMix64(seed: seed)
        let users = UserService(repository: AnyUserStore(store))
        let projection = DirectoryProjection(
            store: AnyUserStore(store), configuration: .init(batchSize: 7), logger: .init(label: "contract"))
        var ids: [UserID] = []
        let names = ["Ada", "ada", "Bob", "Émile", "Zoë", "名前", "O'Neil", "x"]
        for step in 0..<commands {
            let pick = Int.random(in: 0..<100, using: &random)
            let email = "u\(Int.random(in: 0..<40, using: &random))@Example.com"
            let name = names.randomElement(using: &random)! + " \(seed)-\(step)"
            do {
                if ids.isEmpty || pick < 30 {
                    ids.append(try await users.register(email: email, displayName: name).id)
                } else {
                    let id = ids.randomElement(using: &random)!
                    switch pick {
                    case 30..<50: _ = try await users.rename(id, to: name)
                    case 50..<65: _ = try await users.changeEmail(id, to: email)
                    case 65..<75: _ = try await users.deactivate(id)
                    case 75..<85: _ = try await users.reactivate(id)
                    case 85..<92: _ = try await users.update(id, displayName: name, email: email)
                    default:
                        try await users.delete(id)
                        ids.removeAll { $0 == id }
                    }
                }
            } catch is UserError {
                // A taken e-mail or a deactivated user: refused, as it should be; nothing was written.
            }
            if Int.random(in: 0..<10, using: &random) == 0 { try await projection.catchUp() }
        }
        try await projection.catchUp()
        var writeModel: [DirectoryEntry] = []
        var cursor: PageCursor?
        repeat {
            let page = try await store.page(after: cursor, limit: 100)
            writeModel += page.users.map(DirectoryEntry.init)
            cursor = page.nextCursor
        } while cursor != nil
        let projected = try await store.searchDirectory(prefix: "", limit: 100_000).sorted { $0.id < $1.id }
        try expect.equal(projected, writeModel, "seed \(seed): the caught-up directory vs the write model")
        let active = writeModel.count { $0.status == .active }
        try expect.equal(
            try await store.directoryStatistics(),
            DirectoryStatistics(active: active, deactivated: writeModel.count - active), "seed \(seed): statistics")
        try await projection.rebuild()
        let rebuilt = try await store.searchDirectory(prefix: "", limit: 100_000).sorted { $0.id < $1.id }
        try expect.equal(rebuilt, writeModel, "seed \(seed): the rebuilt directory vs the write model")
    }
}
