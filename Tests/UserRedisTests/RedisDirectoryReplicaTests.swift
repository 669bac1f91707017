import Foundation
import Logging
import Testing
import UserDomain
import UserPorts
import UserPortsTesting
import UserRedis

/// The Redis replica against a real server (scripts/redis-test-server.sh, started by the test command): the
/// replica contract, and what a cache-like store does to it (a flush, an older snapshot, a restart with and
/// without persistence, racing appliers).
@Suite("RedisDirectoryReplica")
struct RedisDirectoryReplicaTests {
    @Test(arguments: DirectoryReplicaContract.checks)
    func contract(_ check: DirectoryReplicaContract.Check) async throws {
        let url = try TestRedis.url(prefix: TestRedis.uniquePrefix())
        try await DirectoryReplicaContract { body in
            let replica = try await RedisDirectoryReplica.open(url: url)
            do {
                try await body(replica)
            } catch {
                await replica.close()
                throw error
            }
            await replica.close()
        }.run(check)
    }

    @Test("two directories under different prefixes of one Redis see only their own users")
    func prefixes() async throws {
        let first = try await RedisDirectoryReplica.open(url: try TestRedis.url(prefix: TestRedis.uniquePrefix()))
        let second = try await RedisDirectoryReplica.open(url: try TestRedis.url(prefix: TestRedis.uniquePrefix()))
        let ada = ReplicaEvents(name: "Ada")
        _ = try await first.apply([ada.registered], reaching: EventPosition(rawValue: 1))
        #expect(try await first.search(prefix: "ada", limit: 10).map(\.id) == [ada.id])
        #expect(try await second.search(prefix: "ada", limit: 10).isEmpty)
        #expect(try await second.statistics() == DirectoryStatistics(active: 0, deactivated: 0))
        #expect(try await second.backfillPosition() == nil)
        try await second.reset()
        #expect(try await first.appliedVersion(of: ada.id) == 1, "a reset of one prefix leaves the other")
        await first.close()
        await second.close()
    }

    @Test("after a FLUSHALL every call says the data is lost, never answers from what is left; a reset starts over")
    func flushAll() async throws {
        let server = try await TestRedis.Server.start()
        defer { server.stop() }
        let replica = try await RedisDirectoryReplica.open(url: server.url)
        let ada = ReplicaEvents(name: "Ada")
        _ = try await replica.apply([ada.registered], reaching: EventPosition(rawValue: 1))
        try await TestRedis.cli(["FLUSHALL"], url: server.url)
        try await expectLost { _ = try await replica.search(prefix: "", limit: 10) }
        try await expectLost { _ = try await replica.statistics() }
        try await expectLost { _ = try await replica.appliedVersion(of: ada.id) }
        try await expectLost { _ = try await replica.backfillPosition() }
        try await expectLost { _ = try await replica.apply([ReplicaEvents(name: "Bea").registered], reaching: nil) }
        #expect(try await TestRedis.cli(["DBSIZE"], url: server.url) == "0", "a refused apply wrote nothing")
        try await replica.reset()
        #expect(try await replica.backfillPosition() == nil)
        #expect(try await replica.search(prefix: "", limit: 10).isEmpty)
        #expect(try await replica.apply(ada.registered) == .applied)
        await replica.close()
    }

    @Test("two replicas on one prefix that both saw a loss: the second reset takes up the first one's, never wipes it")
    func resetTakesUpAnother() async throws {
        let server = try await TestRedis.Server.start()
        defer { server.stop() }
        let first = try await RedisDirectoryReplica.open(url: server.url)
        let second = try await RedisDirectoryReplica.open(url: server.url)
        try await TestRedis.cli(["FLUSHALL"], url: server.url)
        try await first.reset()
        let ada = ReplicaEvents(name: "Ada")
        _ = try await first.apply([ada.registered], reaching: EventPosition(rawValue: 3))
        try await expectLost { _ = try await second.search(prefix: "", limit: 10) }
        try await second.reset()
        #expect(try await second.appliedVersion(of: ada.id) == 1, "the first one's rebuild is kept")
        #expect(try await second.backfillPosition() == EventPosition(rawValue: 3), "and its position taken up")
        #expect(try await first.search(prefix: "ada", limit: 10).map(\.id) == [ada.id], "the first one goes on")
        await first.close()
        await second.close()
    }

    @Test("a backfill position that went back (an older snapshot restored) is a loss too")
    func positionWentBack() async throws {
        let prefix = TestRedis.uniquePrefix()
        let replica = try await RedisDirectoryReplica.open(url: try TestRedis.url(prefix: prefix))
        _ = try await replica.apply([ReplicaEvents(name: "Ada").registered], reaching: EventPosition(rawValue: 5))
        try await TestRedis.cli(["HSET", "\(prefix)meta", "position", "2"])
        try await expectLost { _ = try await replica.backfillPosition() }
        try await expectLost { _ = try await replica.apply([ReplicaEvents(name: "Bea").registered], reaching: nil) }
        await replica.close()
    }

    @Test("appliers racing on one directory apply every event once, and the counts stay exact")
    func racingAppliers() async throws {
        let url = try TestRedis.url(prefix: TestRedis.uniquePrefix())
        let replicas = [
            try await RedisDirectoryReplica.open(url: url), try await RedisDirectoryReplica.open(url: url),
            try await RedisDirectoryReplica.open(url: url),
        ]
        let users = (0..<30).map { ReplicaEvents(name: "User \($0)") }
        // Each user: registered, renamed, deactivated (every third), deleted (every fifth).
        let events = users.enumerated().flatMap { index, user -> [UserEventEnvelope] in
            var events = [user.registered, user.renamed("Renamed \(index)", version: 2)]
            if index % 3 == 0 { events.append(user.deactivated(version: 3)) }
            if index % 5 == 0 { events.append(user.deleted(version: events.count + 1)) }
            return events
        }
        // Every applier gets every event, in order, in batches of different sizes.
        let applied = try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, replica) in replicas.enumerated() {
                group.addTask {
                    var count = 0
                    for batch in stride(from: 0, to: events.count, by: index + 2).map({
                        Array(events[$0..<min($0 + index + 2, events.count)])
                    }) {
                        count += try await replica.apply(batch).filter { $0 == .applied }.count
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(applied == events.count, "each event applied by exactly one applier")
        let shown = users.enumerated().filter { $0.offset % 5 != 0 }
        let deactivated = shown.filter { $0.offset % 3 == 0 }.count
        #expect(
            try await replicas[0].statistics()
                == DirectoryStatistics(active: shown.count - deactivated, deactivated: deactivated))
        #expect(try await replicas[1].search(prefix: "renamed", limit: 100).count == shown.count)
        #expect(try await replicas[2].search(prefix: "user ", limit: 100).isEmpty, "old names left the index")
        for replica in replicas { await replica.close() }
    }

    @Test("a search merges e-mail and name matches in the SQL replicas' order, each user once")
    func searchOrder() async throws {
        let replica = try await RedisDirectoryReplica.open(url: try TestRedis.url(prefix: TestRedis.uniquePrefix()))
        // E-mail "zed…" but named "Álvaro"; named "Zed"; "zeta" in both; names that differ only in case.
        let alvaro = ReplicaEvents(name: "Álvaro", email: "zed.alvaro@example.com")
        let zed = ReplicaEvents(name: "Zed", email: "a@example.com")
        let zeta = ReplicaEvents(name: "zeta", email: "zeta@example.com")
        let upper = ReplicaEvents(name: "ZEBRA", email: "b@example.com")
        _ = try await replica.apply([alvaro.registered, zed.registered, zeta.registered, upper.registered])
        let found = try await replica.search(prefix: "ze", limit: 10).map(\.displayName)
        #expect(found == ["Zed", "ZEBRA", "zeta", "Álvaro"].sorted { $0.lowercased().utf8.lexicographicallyPrecedes($1.lowercased().utf8) })
        #expect(try await replica.search(prefix: "ze", limit: 2).count == 2)
        #expect(try await replica.search(prefix: "ZED.", limit: 10).map(\.id) == [alvaro.id], "case ignored")
        await replica.close()
    }

    @Test("a Redis URL is checked, and its password never printed")
    func urls() async throws {
        for (url, words) in [
            ("rediss://:pw-secret@127.0.0.1:1/0", "TLS"), ("redis://:pw-secret@127.0.0.1:1/x", "database number"),
            ("redis://:pw-secret@127.0.0.1:1/0?prefix=", "prefix"), ("redis://:pw-secret@127.0.0.1:1/0?bogus=1", "unknown"),
        ] {
            let error = await #expect(throws: UserStoreError.self) { _ = try await RedisDirectoryReplica.open(url: url) }
            #expect(error?.code == .invalidConfiguration)
            #expect(error?.description.contains(words) == true, "\(error.map(String.init(describing:)) ?? "")")
            #expect(error?.description.contains("pw-secret") == false)
        }
        let port = try ProcessHarness.freePort()
        let unreachable = await #expect(throws: UserStoreError.self) {
            _ = try await RedisDirectoryReplica.open(url: "redis://:pw-secret@127.0.0.1:\(port)/0")
        }
        #expect(unreachable?.code == .unavailable)
        #expect(unreachable?.description.contains("pw-secret") == false)
        let wrong = try TestRedis.url(prefix: "x:").replacingOccurrences(of: "redis-secret-pw", with: "wrong-pw")
        let denied = await #expect(throws: UserStoreError.self) { _ = try await RedisDirectoryReplica.open(url: wrong) }
        #expect(denied?.code == .accessDenied)
        #expect(denied?.description.contains("wrong-pw") == false)
    }

    @Test("a server that may evict keys on its own is refused")
    func evictionPolicy() async throws {
        let server = try await TestRedis.Server.start()
        defer { server.stop() }
        try await TestRedis.cli(["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"], url: server.url)
        let error = await #expect(throws: UserStoreError.self) {
            _ = try await RedisDirectoryReplica.open(url: server.url)
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.description.contains("noeviction") == true)
    }

    @Test("Redis SIGKILLed and restarted mid-stream, with and without persistence: the directory converges, each event applied once in the data it ends with", arguments: [true, false])
    func killedMidStream(persistent: Bool) async throws {
        let server = try await TestRedis.Server.start(persistent: persistent)
        defer { server.stop() }
        let replica = try await RedisDirectoryReplica.open(url: server.url)
        let users = (0..<40).map { ReplicaEvents(name: "Member \($0)") }
        let events = users.enumerated().flatMap { index, user -> [UserEventEnvelope] in
            index % 4 == 0 ? [user.registered, user.deactivated(version: 2)] : [user.registered]
        }
        // A follower's part, by hand: apply in order, in batches of 3 with the position; after a loss, reset and
        // start over from the beginning; while the server is down, retry.
        var applied: [UUID: Int] = [:]
        var losses = 0
        var next = 0
        var killed = false
        while next < events.count {
            if next >= events.count / 2 && !killed {
                killed = true
                try await server.kill()
                try await server.restart()
            }
            let batch = Array(events[next..<min(next + 3, events.count)])
            do {
                let outcomes = try await replica.apply(batch, reaching: EventPosition(rawValue: Int64(next + batch.count)))
                for (event, outcome) in zip(batch, outcomes) where outcome == .applied {
                    applied[event.eventID, default: 0] += 1
                }
                next += batch.count
            } catch let error as UserStoreError where error.code == .dataLost {
                losses += 1
                try await replica.reset()
                applied = [:]
                next = 0
            } catch let error as UserStoreError where error.code == .unavailable {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(losses == (persistent ? 0 : 1), "a restart without persistence is a loss, with it none")
        #expect(try await replica.backfillPosition() == EventPosition(rawValue: Int64(events.count)))
        #expect(applied.values.allSatisfy { $0 == 1 }, "none applied twice")
        #expect(try await replica.statistics() == DirectoryStatistics(active: 30, deactivated: 10))
        for user in users { #expect(try await replica.appliedVersion(of: user.id) != nil) }
        await replica.close()
    }

    private func expectLost(_ body: () async throws -> Void) async throws {
        let error = await #expect(throws: UserStoreError.self) { try await body() }
        #expect(error?.code == .dataLost, "\(error.map(String.init(describing:)) ?? "no error")")
    }
}
