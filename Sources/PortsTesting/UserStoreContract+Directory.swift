import Foundation
import Logging
import UserDomain
import UserPorts

// The store's directory (its DirectoryHosting replica) kept by a DirectoryProjection of its history, and random
// command sequences against it.
extension UserStoreContract {
    static let directoryChecks: [Check] = [
        check("the projected directory equals the write model after every kind of change", .directory) { f in
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
            try f.expect.isNil(try await f.directory.backfillPosition(), "the position before projecting")
            try f.expect.equal(
                try await f.directory.statistics(), DirectoryStatistics(active: 0, deactivated: 0), "empty")
            try await f.project()
            let entries = try await f.directory.search(prefix: "", limit: 100).sorted { $0.id < $1.id }
            try f.expect.equal(entries, try await f.writeModelEntries(), "the directory vs the write model")
            try f.expect.equal(
                try await f.directory.statistics(), DirectoryStatistics(active: 2, deactivated: 1), "statistics")
            try f.expect.equal(
                try await f.directory.backfillPosition(), try await f.allEvents().last?.position, "the position")
            try f.expect.equal(deactivated.status, .deactivated, "fixture")
        },
        check("applying a batch again changes nothing", .directory) { f in
            let ada = try await f.register(name: "Ada")
            try await f.project()
            let events = try await f.allEvents()
            try await f.rename(ada, "Ada Two")
            try await f.project()
            let before = try await f.directory.search(prefix: "", limit: 10)
            // A redelivery of the first batch, as a racing projection would apply it.
            let again = try await f.directory.apply(events.map(\.envelope), reaching: events.last?.position)
            try f.expect.that(again.allSatisfy { $0 == .duplicate }, "the batch again: duplicates, \(again)")
            try f.expect.equal(try await f.directory.search(prefix: "", limit: 10), before, "after a redelivery")
            try f.expect.equal(before.first?.displayName, "Ada Two", "the name")
        },
        check("directory search matches e-mail or display-name prefixes ignoring case, by name then id", .directory) { f in
            try await f.register(email: "ada@example.com", name: "Ada Lovelace")
            try await f.register(email: "zed@example.com", name: "adam Smith")
            try await f.register(email: "ADB@example.com", name: "Bob")
            try await f.register(email: "carol@example.com", name: "Carol")
            try await f.project()
            try f.expect.equal(
                try await f.directory.search(prefix: "AD", limit: 10).map(\.displayName),
                ["Ada Lovelace", "adam Smith", "Bob"], "prefix AD")
            try f.expect.equal(
                try await f.directory.search(prefix: "ad", limit: 2).map(\.displayName),
                ["Ada Lovelace", "adam Smith"], "limit 2")
            try f.expect.equal(
                try await f.directory.search(prefix: "carol@", limit: 10).map(\.email), ["carol@example.com"],
                "an e-mail prefix")
            try f.expect.equal(try await f.directory.search(prefix: "", limit: 10).count, 4, "everyone")
            try f.expect.equal(try await f.directory.search(prefix: "x", limit: 10).count, 0, "no one")
            try f.expect.equal(
                try await f.directory.search(prefix: "%", limit: 10).count, 0, "a wildcard is literal")
        },
        check("a reset directory rebuilt from the log equals the live one", .directory) { f in
            var users: [User] = []
            for index in 0..<6 { users.append(try await f.register(name: "User \(index)")) }
            try await f.rename(users[1], "Renamed")
            try await f.store.delete(id: users[2].id, expectedVersion: 1, events: users[2].deleted(at: f.now()).events)
            try await f.project()
            let live = try await f.directory.search(prefix: "", limit: 100)
            try await f.directory.reset()
            try f.expect.equal(try await f.directory.search(prefix: "", limit: 100).count, 0, "after the reset")
            try f.expect.isNil(try await f.directory.backfillPosition(), "the position after the reset")
            try await f.project(batchSize: 100)
            try f.expect.equal(try await f.directory.search(prefix: "", limit: 100), live, "the rebuilt directory")
        },
        check("a rebuild is refused once retention trimmed the log", .directory) { f in
            try await f.register()
            try await f.register()
            let events = try await f.allEvents()
            try f.expect.equal(events.count, 2, "events in the outbox")
            try await f.store.markPublished(events.map(\.position))
            try f.expect.equal(
                try await f.store.deletePublishedEvents(before: Date().addingTimeInterval(3600)), 1,
                "deleted: all but the newest")
            try await f.project()
            do {
                try await f.rebuild()
                throw f.expect.fail("the rebuild succeeded after the log was trimmed")
            } catch let error as UserStoreError {
                try f.expect.equal(error.code, .historyTrimmed, "the error code")
            }
            try f.expect.equal(
                try await f.directory.statistics(), DirectoryStatistics(active: 1, deactivated: 0),
                "the directory kept as it was")
        },
        check("three projections racing over one history while users change apply each event once", .directory) { f in
            try await ProjectorRace.run(store: f.store, fixture: f)
        },
        check("random command sequences: the projection equals the write model, and a rebuild equals both", .directory) { f in
            for seed: UInt64 in [1, 2, 3] {
                try await RandomCommands.run(
                    seed: seed, commands: 150, store: f.store, directory: f.directory, expect: f.expect)
            }
        },
    ]
}

/// Three projections of one history into one directory, with no lease, racing each other and the writers (as
/// several `users serve` on one database do): the version rule makes every event applied exactly once.
enum ProjectorRace {
    static func run<Store: UserStore>(store: Store, fixture f: Fixture) async throws {
        let users = UserUseCases(repository: store)
        let projections = try (0..<3).map { _ in try f.projection(of: store, batchSize: 4) }
        let counts = try await withThrowingTaskGroup(of: ReplicaBackfillResult.self) { group in
            group.addTask {
                var ids: [UserID] = []
                for index in 0..<40 {
                    ids.append(try await users.register(email: Fixture.uniqueEmail("race"), displayName: "Racer \(index)").id)
                    if index.isMultiple(of: 3) { _ = try await users.rename(ids[index / 2], to: "Renamed \(index)") }
                    if index.isMultiple(of: 7) { _ = try await users.deactivate(ids[index / 3]) }
                    if index.isMultiple(of: 11) { try await users.delete(ids[index / 4]) }
                }
                return ReplicaBackfillResult()
            }
            for projection in projections {
                group.addTask {
                    var total = ReplicaBackfillResult()
                    for _ in 0..<30 {
                        total += try await projection.catchUp()
                        await Task.yield()
                    }
                    return total
                }
            }
            var total = ReplicaBackfillResult()
            for try await count in group { total += count }
            return total
        }
        var total = counts
        for projection in projections { total += try await projection.catchUp() }
        let events = try await f.allEvents().count
        try f.expect.equal(total.applied, events, "events applied, over the three projections")
        try f.expect.equal(total.gaps, 0, "events behind a gap")
        let entries = try await f.directory.search(prefix: "", limit: 1000).sorted { $0.id < $1.id }
        try f.expect.equal(entries, try await f.writeModelEntries(), "the directory vs the write model")
        try f.expect.equal(
            try await f.directory.backfillPosition(), try await f.allEvents().last?.position, "the position")
    }
}

/// Random commands through the use cases, with the projection catching up at random moments: the property
/// that the read model, once caught up, equals the write model, and that a rebuild gives the same.
enum RandomCommands {
    static func run<Store: UserStore>(
        seed: UInt64, commands: Int, store: Store, directory: any DirectoryReplica, expect: Expectations
    ) async throws {
        var random = SplitMix64(seed: seed)
        let users = UserUseCases(repository: store)
        let projection = DirectoryProjection(
            history: store, replica: directory, configuration: .init(batchSize: 7), logger: Fixture.quiet)
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
        let projected = try await directory.search(prefix: "", limit: 100_000).sorted { $0.id < $1.id }
        try expect.equal(projected, writeModel, "seed \(seed): the caught-up directory vs the write model")
        let active = writeModel.count { $0.status == .active }
        try expect.equal(
            try await directory.statistics(),
            DirectoryStatistics(active: active, deactivated: writeModel.count - active), "seed \(seed): statistics")
        try await projection.rebuild()
        let rebuilt = try await directory.search(prefix: "", limit: 100_000).sorted { $0.id < $1.id }
        try expect.equal(rebuilt, writeModel, "seed \(seed): the rebuilt directory vs the write model")
    }
}
