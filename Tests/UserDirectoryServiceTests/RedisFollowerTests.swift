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
        let server = try await TestRedis.Server.start()
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
                    // A reader as the directory API reads: complete before the read and after it, or not served.
                    let partial = Locked<[Int]>([])
                    let reader = Task {
                        while !Task.isCancelled {
                            let before = running.follower.isBackfilled
                            let found = try? await redis.search(prefix: "", limit: 100)
                            if before, running.follower.isBackfilled, let found, found.count != total {
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
                    let noticed = try await Patience.waitUntil { replica.resets.withLock { $0 } == 1 }
                    try #require(try await Patience.waitUntil { running.follower.isBackfilled })
                    try #require(try await converged(replica, source))
                    reader.cancel()
                    _ = await reader.result
                    #expect(noticed, "the loss is noticed, and the replica reset for the rebuild")
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

    func converged(_ replica: CountingReplica<some DirectoryReplica>, _ source: SourceService) async throws -> Bool {
        try await Patience.waitUntil(pollingEvery: .milliseconds(20)) {
            (try? await replica.directory()) == (try await source.directory())
        }
    }
}
