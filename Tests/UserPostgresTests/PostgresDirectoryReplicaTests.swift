import Foundation
import Logging
import Testing
import UserDomain
import UserPorts
import UserPortsTesting
@testable import UserPostgres

@Suite("PostgresDirectoryReplica")
struct PostgresDirectoryReplicaTests {
    @Test(arguments: DirectoryReplicaContract.checks)
    func contract(_ check: DirectoryReplicaContract.Check) async throws {
        try await TestPostgres.withFreshSchema { url in
            try await DirectoryReplicaContract { body in
                let replica = try await PostgresDirectoryReplica.open(url: url, acquireTimeout: Patience.safetyNet)
                try await body(replica)
                await replica.close()
            }.run(check)
        }
    }

    @Test("the directory in a user store's database", arguments: DirectoryReplicaContract.checks)
    func hostedContract(_ check: DirectoryReplicaContract.Check) async throws {
        try await TestPostgres.withFreshSchema { url in
            try await DirectoryReplicaContract { body in
                try await TestPostgres.withStore(url) { store in try await body(store.directoryReplica) }
            }.run(check)
        }
    }

    @Test("three appliers race over one history, in shuffled batches: each event applied once, the rows the users' last state")
    func racingAppliers() async throws {
        try await TestPostgres.withFreshSchema { url in
            // 12 users: registered, renamed, deactivated; every third one deleted.
            var built: [[UserEventEnvelope]] = []
            var last: [UserID: User] = [:]
            for index in 0..<12 {
                var change = User.register(
                    id: UserID(UUID()), email: try EmailAddress("r\(index)@example.com"),
                    displayName: try DisplayName("R\(index)"), at: Date())
                var events = change.events
                change = try change.user.renamed(to: try DisplayName("Renamed \(index)"), at: Date())
                events += change.events
                change = change.user.deactivated(at: Date())
                events += change.events
                if index.isMultiple(of: 3) {
                    events += change.user.deleted(at: Date()).events
                } else {
                    last[change.user.id] = change.user
                }
                built.append(events)
            }
            let histories = built
            let appliers = try await (0..<3).asyncMap { _ in
                try await PostgresDirectoryReplica.open(url: url, acquireTimeout: Patience.safetyNet)
            }
            // Each applier gets every event (a redelivery to each), in per-user order but in batches that
            // interleave users differently, as three followers of one broker would.
            let applied = try await withThrowingTaskGroup(of: Int.self) { group in
                for (number, replica) in appliers.enumerated() {
                    group.addTask {
                        var total = 0
                        var cursors = Array(repeating: 0, count: histories.count)
                        var generator = SplitMix64(seed: UInt64(number + 1))
                        while cursors.indices.contains(where: { cursors[$0] < histories[$0].count }) {
                            var batch: [UserEventEnvelope] = []
                            for user in histories.indices.shuffled(using: &generator).prefix(4)
                            where cursors[user] < histories[user].count {
                                batch.append(histories[user][cursors[user]])
                                cursors[user] += 1
                            }
                            let outcomes = try await replica.apply(batch)
                            #expect(!outcomes.contains { if case .gap = $0 { true } else { false } }, "in order: no gap")
                            total += outcomes.filter { $0 == .applied }.count
                        }
                        return total
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(applied == histories.map(\.count).reduce(0, +), "every event applied exactly once in all")
            let replica = appliers[0]
            #expect(try await replica.statistics() == DirectoryStatistics(active: 0, deactivated: last.count))
            let rows = try await replica.search(prefix: "", limit: 100)
            #expect(Set(rows.map(\.id)) == Set(last.keys))
            for row in rows { #expect(row.displayName == last[row.id]?.displayName.value && row.version == 3) }
            for history in histories {
                #expect(try await replica.appliedVersion(of: history[0].userID) == history.count, "tombstones too")
            }
            for replica in appliers { await replica.close() }
        }
    }

    @Test("three stores on one database (three users serve): their projections race the writers, no lease, each event applied once")
    func threeProjectors() async throws {
        try await TestPostgres.withFreshSchema { url in
            let stores = try await (0..<3).asyncMap { _ in
                try await PostgresUserStore.open(
                    .init(url: url, maximumConnections: 4, acquireTimeout: Patience.safetyNet, listensForCommits: false))
            }
            let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            let projections = stores.map {
                DirectoryProjection(
                    history: $0, replica: $0.directoryReplica, configuration: .init(batchSize: 7), logger: logger)
            }
            let counts = try await withThrowingTaskGroup(of: ReplicaBackfillResult.self) { group in
                for (number, store) in stores.enumerated() {
                    group.addTask {
                        // Each instance writes its own users and changes them, as requests spread over three would.
                        let users = UserUseCases(repository: store)
                        for index in 0..<30 {
                            let user = try await users.register(
                                email: "p\(number)-\(index)@example.com", displayName: "P\(number) \(index)")
                            if index.isMultiple(of: 2) { _ = try await users.rename(user.id, to: "Q\(number) \(index)") }
                            if index.isMultiple(of: 5) { _ = try await users.deactivate(user.id) }
                            if index.isMultiple(of: 7) { try await users.delete(user.id) }
                        }
                        return ReplicaBackfillResult()
                    }
                }
                for projection in projections {
                    group.addTask {
                        var total = ReplicaBackfillResult()
                        for _ in 0..<40 { total += try await projection.catchUp() }
                        return total
                    }
                }
                var total = ReplicaBackfillResult()
                for try await count in group { total += count }
                return total
            }
            var total = counts
            for projection in projections { total += try await projection.catchUp() }
            let events = try await stores[0].events(after: nil, limit: 10_000)
            #expect(total.applied == events.count, "every event applied exactly once over the three")
            #expect(total.gaps == 0)
            var writeModel: [DirectoryEntry] = []
            var cursor: PageCursor?
            repeat {
                let page = try await stores[1].page(after: cursor, limit: 100)
                writeModel += page.users.map(DirectoryEntry.init)
                cursor = page.nextCursor
            } while cursor != nil
            for store in stores {
                let directory = try await store.directoryReplica.search(prefix: "", limit: 1000).sorted { $0.id < $1.id }
                #expect(directory == writeModel, "the shared directory equals the write model")
                #expect(try await store.directoryReplica.backfillPosition() == events.last?.position)
            }
            for store in stores { await store.close() }
        }
    }

    @Test("a database that holds a user store is refused, by name and without its password")
    func refusesAStoreDatabase() async throws {
        try await TestPostgres.withFreshSchema { url in
            let store = try await PostgresUserStore.open(.init(url: url))
            await store.close()
            do {
                _ = try await PostgresDirectoryReplica.open(url: url, acquireTimeout: Patience.safetyNet)
                Issue.record("a replica opened in a user store's database")
            } catch let error as UserStoreError {
                #expect(error.code == .invalidConfiguration)
                #expect(error.description.contains("user store"))
            }
        }
    }

    @Test("a user store refuses a replica's database")
    func storeRefusesAReplicaDatabase() async throws {
        try await TestPostgres.withFreshSchema { url in
            await (try await PostgresDirectoryReplica.open(url: url, acquireTimeout: Patience.safetyNet)).close()
            do {
                _ = try await PostgresUserStore.open(.init(url: url))
                Issue.record("a store opened in a replica's database")
            } catch let error as UserStoreError {
                #expect(error.code == .invalidConfiguration)
                #expect(error.description.contains("directory replica"))
            }
        }
    }

    @Test("processes opening one new database at once migrate it once; a second open finds it current")
    func concurrentOpens() async throws {
        try await TestPostgres.withFreshSchema { url in
            let replicas = try await (0..<4).concurrentMap { _ in
                try await PostgresDirectoryReplica.open(url: url, acquireTimeout: Patience.safetyNet)
            }
            for replica in replicas { await replica.close() }
            let again = try await PostgresDirectoryReplica.open(url: url, acquireTimeout: Patience.safetyNet)
            await again.close()
            try TestPostgres.run(url, "SELECT 1")  // still usable
        }
    }
}

extension Sequence where Element: Sendable {
    func concurrentMap<T: Sendable>(_ transform: @escaping @Sendable (Element) async throws -> T) async throws -> [T] {
        try await withThrowingTaskGroup(of: (Int, T).self) { group in
            for (index, element) in enumerated() { group.addTask { (index, try await transform(element)) } }
            var results: [(Int, T)] = []
            for try await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
