import Foundation
import Logging
import UserDomain
import UserPorts

// Paging, races, the fidelity of stored values, and batches.
extension UserStoreContract {
    static let pagingChecks: [Check] = [
        check("an empty store has one empty last page", .repository) { f in
            let page = try await f.repository.page(after: nil, limit: 10)
            try f.expect.that(page.users.isEmpty && page.nextCursor == nil, "the page of an empty store")
        },
        check("pages cover every user once, in id order", .repository) { f in
            var ids: [UserID] = []
            for key in [17, 3, 25, 9, 1, 12, 20, 5, 8, 22, 14, 2, 19, 11, 24, 6, 16, 4, 23, 10, 15, 7, 21, 13, 18] {
                ids.append(try await f.register(id: Fixture.orderedID(key)).id)
            }
            let pages = try await f.allPages(limit: 10)
            try f.expect.equal(pages.map(\.users.count), [10, 10, 5], "page sizes")
            try f.expect.equal(pages.flatMap(\.users).map(\.id), ids.sorted(), "ids over all pages")
        },
        check("an exactly full last page has no next cursor", .repository) { f in
            for key in 1...20 { try await f.register(id: Fixture.orderedID(key)) }
            let pages = try await f.allPages(limit: 10)
            try f.expect.equal(pages.map(\.users.count), [10, 10], "page sizes")
            try f.expect.that(pages[0].nextCursor != nil && pages[1].nextCursor == nil, "cursors")
        },
        check("keyset paging shows users inserted after the cursor, not before", .repository) { f in
            for key in stride(from: 10, through: 100, by: 10) { try await f.register(id: Fixture.orderedID(key)) }
            let first = try await f.repository.page(after: nil, limit: 3)
            try f.expect.equal(first.users.map(\.id), [10, 20, 30].map(Fixture.orderedID), "first page")
            try await f.register(id: Fixture.orderedID(5))
            try await f.register(id: Fixture.orderedID(35))
            try await f.register(id: Fixture.orderedID(105))
            var seen = first.users.map(\.id)
            var cursor = first.nextCursor
            while let current = cursor {
                let page = try await f.repository.page(after: current, limit: 3)
                seen += page.users.map(\.id)
                cursor = page.nextCursor
            }
            let expected = [10, 20, 30, 35, 40, 50, 60, 70, 80, 90, 100, 105].map(Fixture.orderedID)
            try f.expect.equal(seen, expected, "ids seen across pages with inserts between them")
        },
        check("keyset paging continues after the cursor's own user is deleted", .repository) { f in
            var users: [User] = []
            for key in 1...6 { users.append(try await f.register(id: Fixture.orderedID(key))) }
            let first = try await f.repository.page(after: nil, limit: 3)
            try await f.repository.delete(id: users[2].id, expectedVersion: 1, events: users[2].deleted(at: f.now()).events)
            try await f.repository.delete(id: users[3].id, expectedVersion: 1, events: users[3].deleted(at: f.now()).events)
            let second = try await f.repository.page(after: first.nextCursor, limit: 3)
            try f.expect.equal(second.users.map(\.id), [5, 6].map(Fixture.orderedID), "the page after deletes")
            try f.expect.isNil(second.nextCursor, "the last page's cursor")
        },
        check("page sizes outside 1...maximumLimit are refused", .repository) { f in
            try await f.register()
            for limit in [0, -1, UserPage.maximumLimit + 1] {
                try await f.expect.throwsError(.invalidPageSize(limit), "page(limit: \(limit))") {
                    try await f.repository.page(after: nil, limit: limit)
                }
            }
            let page = try await f.repository.page(after: nil, limit: UserPage.maximumLimit)
            try f.expect.equal(page.users.count, 1, "the largest page size is accepted")
        },
        check("a cursor past every id gives an empty last page", .repository) { f in
            try await f.register()
            let last = UserID("ffffffff-ffff-ffff-ffff-ffffffffffff")!
            let page = try await f.repository.page(after: PageCursor(after: last), limit: 10)
            try f.expect.that(page.users.isEmpty && page.nextCursor == nil, "the page after the largest id")
        },
    ]

    static let concurrencyChecks: [Check] = [
        check("100 tasks registering one e-mail: exactly one wins", .repository) { f in
            let spellings = ["race@example.com", "Race@Example.com", "RACE@EXAMPLE.COM", "race@EXAMPLE.com"]
            let changes = try (0..<100).map { try f.registration(email: spellings[$0 % spellings.count]) }
            let results = await withTaskGroup(of: (any Error)?.self) { group in
                for change in changes {
                    group.addTask {
                        do {
                            try await f.repository.save(change.user, expectedVersion: 0, events: change.events)
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
            let winner = try f.expect.unwrap(
                try await f.repository.user(email: EmailAddress("race@example.com")), "winner")
            try f.expect.equal(try await f.repository.page(after: nil, limit: 200).users.count, 1, "users stored")
            if let events = try await f.eventsIfOutbox() {
                try f.expect.equal(events.count, 1, "events committed")
                try f.expect.equal(events.first?.envelope.userID, winner.id, "the event's user")
            }
        },
        check("100 tasks renaming one user at the same version: exactly one wins", .repository) { f in
            let user = try await f.register(name: "Contended")
            let changes = try (0..<100).map { try user.renamed(to: DisplayName("Winner \($0)"), at: f.now()) }
            let results = await withTaskGroup(of: (any Error)?.self) { group in
                for change in changes {
                    group.addTask {
                        do {
                            try await f.repository.save(change.user, expectedVersion: 1, events: change.events)
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
            let stored = try f.expect.unwrap(try await f.repository.user(id: user.id), "the user")
            try f.expect.equal(stored.version, 2, "version after the race")
            if let events = try await f.eventsIfOutbox() {
                let renames = events.filter { $0.envelope.type == "user.renamed" }
                try f.expect.equal(renames.count, 1, "rename events committed")
                try f.expect.equal(
                    renames.first?.envelope.event,
                    .renamed(displayName: stored.displayName, previous: user.displayName),
                    "the committed event matches the stored name")
            }
        },
        check("concurrent registrations of distinct e-mails all succeed", .repository) { f in
            let changes = try (0..<50).map { _ in try f.registration() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for change in changes {
                    group.addTask {
                        try await f.repository.save(change.user, expectedVersion: 0, events: change.events)
                    }
                }
                try await group.waitForAll()
            }
            if let events = try await f.eventsIfOutbox() {
                try f.expect.equal(events.count, 50, "events committed")
                try f.expect.equal(Set(events.map(\.position)).count, 50, "distinct positions")
            }
            let pages = try await f.allPages(limit: 7)
            try f.expect.equal(Set(pages.flatMap(\.users).map(\.id)), Set(changes.map(\.user.id)), "users stored")
        },
    ]

    static let fidelityChecks: [Check] = [
        check("Unicode names and addresses are stored exactly", .repository) { f in
            let user = try await f.register(email: "José.Núñez@Exämple.com", name: "Zoë 👩‍💻 Ōtsuka")
            let found = try f.expect.unwrap(
                try await f.repository.user(email: EmailAddress("josé.núñez@exämple.COM")), "lookup")
            try f.expect.equal(found, user, "the Unicode user read back")
            try f.expect.equal(found.displayName.value, "Zoë 👩‍💻 Ōtsuka", "the name")
        },
        check("timestamps keep millisecond precision", .repository) { f in
            let created = Date(timeIntervalSince1970: 1_700_000_000.123)
            let change = User.register(
                id: Fixture.ids.makeUserID(), email: try EmailAddress(Fixture.uniqueEmail()),
                displayName: try DisplayName("Precise"), at: created)
            try await f.repository.save(change.user, expectedVersion: 0, events: change.events)
            let found = try f.expect.unwrap(try await f.repository.user(id: change.user.id), "user")
            try f.expect.equal(found.createdAt.epochMilliseconds, 1_700_000_000_123, "createdAt in ms")
            try f.expect.equal(found.updatedAt, change.user.updatedAt, "updatedAt")
            if let events = try await f.eventsIfOutbox() {
                try f.expect.equal(events.first?.envelope.occurredAt, created.roundedToMilliseconds, "occurredAt")
            }
        },
        check("a long address and a 100-character name are stored exactly", .repository) { f in
            let local = String(repeating: "l", count: 64)
            let domain =
                String(repeating: "d", count: 63) + "." + String(repeating: "e", count: 63) + "."
                + String(repeating: "f", count: 58) + ".io"
            let email = local + "@" + domain
            let name = String(repeating: "é", count: 100)
            let user = try await f.register(email: email, name: name)
            try f.expect.equal(email.utf8.count, EmailAddress.maximumLength, "the test address length")
            try f.expect.equal(try await f.repository.user(id: user.id), user, "the user read back")
        },
    ]

    static let batchChecks: [Check] = [
        check("a batch inserts every user with its events, in batch order", .outbox) { f in
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
        check("a batch skips users whose e-mail or id is taken and commits the rest", .repository) { f in
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
            let eventsBefore = try await f.eventsIfOutbox()
            let outcome = try await f.repository.insert(batch)
            try f.expect.equal(outcome.insertedCount, 2, "inserted count")
            try f.expect.equal(
                outcome.rejected,
                [
                    1: .emailTaken(batch[1].user.email), 3: .emailTaken(batch[3].user.email),
                    4: .versionConflict(second.user.id, expected: 0, actual: 1),
                    5: .versionConflict(stored.id, expected: 0, actual: stored.version),
                ], "rejections")
            try f.expect.equal(try await f.repository.user(id: first.user.id), first.user, "first")
            try f.expect.equal(
                try await f.repository.user(id: second.user.id), second.user, "second, not its duplicate id")
            try f.expect.equal(try await f.repository.user(id: stored.id), stored, "the stored user")
            for index in [1, 3] {
                try f.expect.that(
                    try await f.repository.user(id: batch[index].user.id) == nil, "rejected \(index) stored")
            }
            if let eventsBefore, let events = try await f.eventsIfOutbox() {
                try f.expect.equal(
                    events.map(\.envelope), eventsBefore.map(\.envelope) + first.events + second.events,
                    "events of the inserted users only")
                try f.expect.equal(outcome.lastPosition, events.last?.position, "the last position")
            }
        },
        check("an empty batch writes nothing", .repository) { f in
            try await f.register()
            let before = try await f.eventsIfOutbox()
            try f.expect.equal(try await f.repository.insert([]), BatchInsertOutcome(), "the outcome of an empty batch")
            try f.expect.equal(try await f.eventsIfOutbox(), before, "events")
        },
        check("two batches racing for one e-mail insert it once", .repository) { f in
            let batches = try (0..<8).map { index in
                [
                    try f.registration(email: "Race.\(index)@example.com"),
                    try f.registration(email: "Contested@example.com"),
                ]
            }
            let outcomes = try await withThrowingTaskGroup(of: BatchInsertOutcome.self) { group in
                for batch in batches { group.addTask { try await f.repository.insert(batch) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            try f.expect.equal(outcomes.map(\.insertedCount).reduce(0, +), 9, "users inserted by 8 batches")
            try f.expect.equal(outcomes.filter { $0.rejected.isEmpty }.count, 1, "batches that won the e-mail")
            let owner = try f.expect.unwrap(
                try await f.repository.user(email: EmailAddress("contested@example.com")), "the contested address")
            try f.expect.that(
                batches.contains { $0[1].user.id == owner.id }, "the owner is one of the batches' users")
            try f.expect.equal(try await f.eventsIfOutbox()?.count ?? 9, 9, "events")
        },
    ]
}
