import Foundation
import Logging
import Testing
import UserDirectoryService
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting
import UserRedis

/// The follower into a Redis replica, against the real broker and a Redis server of its own (which the tests
/// flush and kill): the directory is rebuilt from the history after Redis lost its data, and is never presented
/// as complete meanwhile.
@Suite("DirectoryFollower on Redis", .serialized)
struct RedisFollowerTests {
    let logger = Logger(label: "test.follower.redis")

    func register(_ source: SourceService, _ count: Int, tag: String) async throws {
        for index in 0..<count {
            let user = try await source.users.register(
                email: "\(tag)\(index)@example.com", displayName: "\(tag.capitalized) \(index)")
            if index % 3 == 0 { _ = try await source.users.deactivate(user.id) }
        }
    }

    @Test(
        "Redis flushed or restarted without persistence while serving: noticed, rebuilt from the history, never a part shown as the whole",
        arguments: ["FLUSHALL", "restart"])
    func lossWhileServing(_ loss: String) async throws {
        try await followThrough(loss, persistent: false)
    }

    @Test("Redis SIGKILLed and restarted with persistence mid-stream: nothing lost, nothing rebuilt, each event applied once")
    func restartWithPersistence() async throws {
        try await followThrough("restart", persistent: true)
    }

    /// Follows a source into a Redis of its own, then `loss` ("FLUSHALL" or "restart") while a reader reads.
    func followThrough(_ loss: String, persistent: Bool) async throws {
        let server = try await TestRedis.Server.start(persistent: persistent)
        defer { server.stop() }
        let source = try SourceService(exchange: FollowerBroker.unique("redis"))
        try await withService(source.application()) {
            try await withService(source.publisher) {
                try #require(try await source.waitUntilServing())
                let redis = try await RedisDirectoryReplica.open(url: server.url)
                let replica = CountingReplica(redis)
                let running = try RunningFollower(
                    replica: replica, source: source, queue: FollowerBroker.unique("q"), logger: logger)
                try await running.whileRunning {
                    try #require(try await Patience.waitUntil { running.follower.isBackfilled })
                    try await register(source, 24, tag: "before")
                    try await source.publish(try await source.allEvents())
                    try #require(try await converged(replica, source))
                    let total = try await source.directory().count
                    // A reader as the directory API reads: complete before the read and after it, or not served. Users are only
                    // added from here on: a complete answer never has fewer.
                    let partial = Locked<[Int]>([])
                    let reader = Task {
                        while !Task.isCancelled {
                            let before = running.follower.isBackfilled
                            let found = try? await redis.search(prefix: "", limit: 100)
                            if before, running.follower.isBackfilled, let found, found.count < total {
                                partial.withLock { $0.append(found.count) }
                            }
                            try? await Task.sleep(for: .milliseconds(2))
                        }
                    }
                    if loss == "FLUSHALL" {
                        try await TestRedis.cli(["FLUSHALL"], url: server.url)
                    } else {
                        try await server.kill()
                        try await server.restart()
                    }
                    try await afterLoss(source, replica, persistent: persistent)
                    try #require(try await Patience.waitUntil { running.follower.isBackfilled })
                    try #require(try await converged(replica, source))
                    reader.cancel()
                    _ = await reader.result
                    if persistent {
                        #expect(replica.resets.withLock { $0 } == 0, "nothing rebuilt")
                        let counts = replica.applications.withLock { $0 }
                        #expect(counts.count == (try await source.allEvents()).count, "every event applied")
                        #expect(counts.values.allSatisfy { $0 == 1 }, "none twice")
                    }
                    #expect(partial.withLock { $0 }.isEmpty, "a part shown as the whole: \(partial.withLock { $0 })")
                    // And it goes on following the queue.
                    let before = try await source.allEvents().count
                    try await register(source, 6, tag: "after")
                    try await source.publish(Array(try await source.allEvents().dropFirst(before)))
                    try #require(try await converged(replica, source))
                    let shown = try await source.store.page(after: nil, limit: 1000).users
                    #expect(
                        try await redis.statistics()
                            == DirectoryStatistics(
                                active: shown.filter { $0.status == .active }.count,
                                deactivated: shown.filter { $0.status == .deactivated }.count),
                        "the counts exact after redeliveries and a rebuild")
                }
                await redis.close()
            }
        }
    }

    /// With persistence, more events while the server comes back (deliveries that fail go back to the queue);
    /// without, waits for the follower to notice the loss and reset the replica.
    func afterLoss(_ source: SourceService, _ replica: CountingReplica<RedisDirectoryReplica>, persistent: Bool)
        async throws
    {
        if persistent {
            let published = try await source.allEvents().count
            try await register(source, 3, tag: "during")
            try await source.publish(Array(try await source.allEvents().dropFirst(published)))
        } else {
            let noticed = try await Patience.waitUntil { replica.resets.withLock { $0 } == 1 }
            #expect(noticed, "the loss is noticed, and the replica reset for the rebuild")
        }
    }

    func converged(_ replica: CountingReplica<some DirectoryReplica>, _ source: SourceService) async throws -> Bool {
        try await Patience.waitUntil(pollingEvery: .milliseconds(20)) {
            (try? await replica.directory()) == (try await source.directory())
        }
    }
}
