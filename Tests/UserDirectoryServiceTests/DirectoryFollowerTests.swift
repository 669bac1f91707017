import Foundation
import Logging
import Testing
import UserDirectoryService
import UserAppCore
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting
import UserSQLite
@testable import UserRabbitMQ

/// The follower against the real broker, with a user service in this process whose publications the test
/// chooses: backfill, late start, lost database, redelivery, gaps.
@Suite("DirectoryFollower", .serialized)
struct DirectoryFollowerTests {
    let logger = Logger(label: "test.follower")

    /// Registers `count` users and renames every other one; returns the users.
    func write(_ source: SourceService, count: Int, tag: String) async throws -> [User] {
        var users: [User] = []
        for index in 0..<count {
            let user = try await source.users.register(
                email: "\(tag)\(index)@example.com", displayName: "\(tag.capitalized) \(index)")
            users.append(user)
            if index % 2 == 0 { _ = try await source.users.rename(user.id, to: "\(tag.capitalized) \(index) r") }
        }
        return users
    }

    /// Waits until the replica shows the source's directory.
    func converged(_ replica: CountingReplica<some DirectoryReplica>, _ source: SourceService) async throws -> Bool {
        try await Patience.waitUntil(pollingEvery: .milliseconds(20)) {
            try await replica.directory() == source.directory()
        }
    }

    @Test("events committed before the queue existed arrive by the backfill, later ones by the queue, each once")
    func backfillThenFollow() async throws {
        let source = try SourceService(exchange: FollowerBroker.unique("dir"))
        try await withService(source.application()) {
            try await withService(source.publisher) {
                try #require(try await source.waitUntilServing())
                // Committed and published before any queue is bound: the broker routes them nowhere useful.
                _ = try await write(source, count: 10, tag: "early")
                try await source.publish(try await source.allEvents())
                let replica = CountingReplica(InMemoryDirectoryReplica())
                let running = try RunningFollower(
                    replica: replica, source: source, queue: FollowerBroker.unique("q"), logger: logger)
                try await running.whileRunning {
                    try #require(try await Patience.waitUntil { running.follower.isBackfilled })
                    try #require(try await converged(replica, source))
                    let before = try await source.allEvents().count
                    let late = try await write(source, count: 6, tag: "late")
                    _ = try await source.users.deactivate(late[1].id)
                    try await source.users.delete(late[2].id)
                    try await source.publish(Array(try await source.allEvents().dropFirst(before)))
                    try #require(try await converged(replica, source))
                }
                let counts = replica.applications.withLock { $0 }
                #expect(counts.count == (try await source.allEvents()).count, "every event applied")
                #expect(counts.values.allSatisfy { $0 == 1 }, "none twice")
            }
        }
    }

    @Test("positions the deliveries carry move what a Consistency-Token is compared with; a backfill closes a hole")
    func consistencyTokens() async throws {
        let source = try SourceService(exchange: FollowerBroker.unique("dir"))
        try await withService(source.application()) {
            try await withService(source.publisher) {
                try #require(try await source.waitUntilServing())
                let replica = InMemoryDirectoryReplica()
                let running = try RunningFollower(
                    replica: replica, source: source, queue: FollowerBroker.unique("q"), logger: logger)
                try await running.whileRunning {
                    try #require(try await Patience.waitUntil { running.follower.isBackfilled })
                    #expect(running.follower.reachedPosition == nil)
                    _ = try await write(source, count: 3, tag: "pos")  // positions 1 to 5 (two renames)
                    let first = try await source.store.events(after: nil, limit: 100)
                    try await source.publishAsTheRelay(first)
                    let five = EventPosition(rawValue: 5)
                    try #require(try await Patience.waitUntil { running.follower.reachedPosition == five })
                    #expect(try await replica.backfillPosition() == five, "kept as the replica's position")

                    // Three more users (6, 7, 8); the broker gets 7 and 8 only (6 is held back, or its position
                    // was taken by no event): the position stays at 5 until a backfill reads 6 from the history.
                    for index in 0..<3 {
                        _ = try await source.users.register(email: "hole\(index)@example.com", displayName: "Hole \(index)")
                    }
                    let later = try await source.store.events(after: five, limit: 100)
                    try await source.publishAsTheRelay(Array(later.dropFirst()))
                    try #require(try await Patience.waitUntil { try await replica.search(prefix: "hole", limit: 10).count == 2 })
                    #expect(running.follower.reachedPosition == five, "7 and 8 applied, 6 missing")

                    // A read with the token of the last write: not refused, answered once the backfill read 6.
                    let queries = DirectoryQueries(
                        replica: replica, progress: running.follower.progress, timeout: Patience.safetyNet,
                        behind: { [follower = running.follower] in await follower.catchUp(to: $0) })
                    let found = try await queries.search(prefix: "hole", consistentWith: EventPosition(rawValue: 8))
                    #expect(found.count == 3)
                    #expect(running.follower.reachedPosition == EventPosition(rawValue: 8))
                }
            }
        }
    }

    @Test("redelivered and republished events are dropped; a gap triggers a backfill")
    func duplicatesAndGaps() async throws {
        let source = try SourceService(exchange: FollowerBroker.unique("dir"), token: "history-token-1")
        try await withService(source.application()) {
            try await withService(source.publisher) {
                try #require(try await source.waitUntilServing())
                let replica = CountingReplica(InMemoryDirectoryReplica())
                let running = try RunningFollower(
                    replica: replica, source: source, queue: FollowerBroker.unique("q"), token: "history-token-1",
                    logger: logger)
                try await running.whileRunning {
                    try #require(try await Patience.waitUntil { running.follower.isBackfilled })
                    _ = try await write(source, count: 4, tag: "dup")
                    let events = try await source.allEvents()
                    try await source.publish(events)
                    try await source.publish(events.reversed())  // again, and out of order
                    try #require(try await converged(replica, source))
                    // A gap: version 2 published, version 1 never (the relay holds it, say).
                    let user = try await source.users.register(email: "gap@example.com", displayName: "Gap")
                    let renamed = try await source.users.rename(user.id, to: "Gap Filled")
                    let last = try #require(try await source.allEvents().last)
                    try #require(last.userVersion == renamed.version)
                    try await source.publish([last])
                    try #require(try await converged(replica, source))
                    #expect(try await replica.appliedVersion(of: user.id) == 2)
                }
                #expect(replica.applications.withLock { $0.values.allSatisfy { $0 == 1 } }, "none twice")
            }
        }
    }

    @Test("an event still behind a gap after the backfill goes back to the queue, and is applied once its predecessor comes")
    func lastingGap() async throws {
        let source = try SourceService(exchange: FollowerBroker.unique("dir"))
        try await withService(source.application()) {
            try await withService(source.publisher) {
                try #require(try await source.waitUntilServing())
                let replica = CountingReplica(InMemoryDirectoryReplica())
                let running = try RunningFollower(
                    replica: replica, source: source, queue: FollowerBroker.unique("q"), logger: logger)
                // A user the source's history does not have (yet): the backfill can't close the gap.
                let id = UserID(UUID())
                let at = Date()
                let registered = UserEventEnvelope(
                    eventID: UUID(), userID: id, userVersion: 1, occurredAt: at,
                    event: .registered(email: try EmailAddress("late@example.com"), displayName: try DisplayName("Late")))
                let renamed = UserEventEnvelope(
                    eventID: UUID(), userID: id, userVersion: 2, occurredAt: at,
                    event: .renamed(displayName: try DisplayName("Later"), previous: try DisplayName("Late")))
                try await running.whileRunning {
                    try #require(try await Patience.waitUntil { running.follower.isBackfilled })
                    try await source.publish([renamed])
                    // It comes back again and again (each delivery: a gap, a backfill, a gap again, put back)
                    // and is never applied.
                    try #require(
                        try await Patience.waitUntil { replica.gaps.withLock { $0[renamed.eventID] ?? 0 } >= 4 },
                        "the event behind the gap was not redelivered")
                    #expect(try await replica.appliedVersion(of: id) == nil)
                    try await source.publish([registered])
                    try #require(try await Patience.waitUntil { try await replica.appliedVersion(of: id) == 2 })
                }
                #expect(try await replica.search(prefix: "later", limit: 5).map(\.id) == [id])
                #expect(replica.applications.withLock { [$0[registered.eventID], $0[renamed.eventID]] } == [1, 1])
            }
        }
    }

    @Test("a follower whose backfill starts below what retention deleted is never ready, and says why")
    func trimmedHistoryIsNotReady() async throws {
        let source = try SourceService(exchange: FollowerBroker.unique("dir"))
        _ = try await write(source, count: 4, tag: "old")
        let events = try await source.store.events(after: nil, limit: 100)
        try await source.store.markPublished(events.map(\.position))
        let trimmed = try await source.store.deletePublishedEvents(before: Date().addingTimeInterval(3600))
        #expect(trimmed == events.count - 1, "all but the newest")
        let lines = Locked<[String]>([])
        let logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }
        try await withService(source.application()) {
            try #require(try await source.waitUntilServing())
            let running = try RunningFollower(
                replica: InMemoryDirectoryReplica(), source: source, queue: FollowerBroker.unique("q"), logger: logger)
            try await running.whileRunning {
                try #require(
                    try await Patience.waitUntil { running.follower.backfillFailure?.contains("410") == true },
                    "the follower did not see the trimmed history")
                #expect(!running.follower.isBackfilled, "never ready on an incomplete history")
                #expect(running.follower.backfillFailure?.contains("can't be made whole") == true)
                #expect(lines.withLock { $0.contains { $0.contains("below what retention deleted") } })
            }
        }
    }

    @Test("a replica whose file was removed refuses the events: the follower says so (readiness), and puts them back")
    func replicaRefusingWrites() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("replica-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("directory.sqlite").path
        let source = try SourceService(exchange: FollowerBroker.unique("dir"))
        try await withService(source.application()) {
            try await withService(source.publisher) {
                try #require(try await source.waitUntilServing())
                let replica = try await SQLiteDirectoryReplica.open(path: path)
                let running = try RunningFollower(
                    replica: replica, source: source, queue: FollowerBroker.unique("q"), logger: logger)
                try await running.whileRunning {
                    try #require(try await Patience.waitUntil { running.follower.isBackfilled })
                    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
                    let users = try await write(source, count: 1, tag: "lost")
                    try await source.publish(try await source.allEvents())
                    try #require(
                        try await Patience.waitUntil { running.follower.applyFailure != nil },
                        "the follower never noticed")
                    #expect(running.follower.applyFailure?.contains("removed or replaced") == true)
                    #expect(try await replica.appliedVersion(of: users[0].id) == nil)
                }
                await replica.close()
            }
        }
    }

    /// The ready messages of a queue (a passive declare on a connection of its own).
    static func messageCount(queue: String) async throws -> Int {
        let worker = AMQPWorker(
            label: "test", url: try RabbitMQURL(try FollowerBroker.url), heartbeat: 0, timeout: .seconds(30),
            backoff: .milliseconds(10)...(.milliseconds(10)))
        defer { Task { await worker.close() } }
        return try await worker.perform(setUp: { _ in }) { try $0.messageCount(queue: queue) }
    }

    @Test("an event behind a gap that never closes is parked after the bound, with its later events, and the rest goes on")
    func hopelessGapIsParked() async throws {
        let source = try SourceService(exchange: FollowerBroker.unique("dir"))
        try await withService(source.application()) {
            try await withService(source.publisher) {
                try #require(try await source.waitUntilServing())
                let replica = CountingReplica(InMemoryDirectoryReplica())
                let queue = FollowerBroker.unique("q")
                let running = try RunningFollower(
                    replica: replica, source: source, queue: queue, gapSightings: 3, gapAge: .milliseconds(200),
                    logger: logger)
                // A version 2 whose version 1 exists nowhere (forged, or trimmed from the history).
                let orphan = UserEventEnvelope(
                    eventID: UUID(), userID: UserID(UUID()), userVersion: 2, occurredAt: Date(),
                    event: .renamed(displayName: try DisplayName("Orphan"), previous: try DisplayName("Nobody")))
                try await running.whileRunning {
                    try #require(try await Patience.waitUntil { running.follower.isBackfilled })
                    try await source.publish([orphan])
                    let parking = queue + ".parked"
                    try #require(
                        try await Patience.waitUntil { try await Self.messageCount(queue: parking) == 1 },
                        "the hopeless event was not parked")
                    let sightings = replica.gaps.withLock { $0[orphan.eventID] ?? 0 }
                    #expect(sightings >= 3, "parked only after the bound: \(sightings) sightings")
                    // The queue flows on: an event after it is applied.
                    let next = UserEventEnvelope(
                        eventID: UUID(), userID: UserID(UUID()), userVersion: 1, occurredAt: Date(),
                        event: .registered(email: try EmailAddress("next@example.com"), displayName: try DisplayName("Next")))
                    try await source.publish([next])
                    try #require(try await Patience.waitUntil { try await replica.appliedVersion(of: next.userID) == 1 })
                    let settled = replica.gaps.withLock { $0[orphan.eventID] ?? 0 }
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(replica.gaps.withLock { $0[orphan.eventID] ?? 0 } == settled, "not redelivered any more")
                }
            }
        }
    }

    @Test("a follower started late, or with its database deleted, converges to the source's directory")
    func lateAndLostDatabase() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("follower-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("directory.sqlite").path
        let source = try SourceService(exchange: FollowerBroker.unique("dir"))
        let queue = FollowerBroker.unique("q")
        try await withService(source.application()) {
            try await withService(source.publisher) {
                try #require(try await source.waitUntilServing())
                _ = try await write(source, count: 5, tag: "first")
                try await source.publish(try await source.allEvents())
                // The first run.
                var replica = CountingReplica(try await SQLiteDirectoryReplica.open(path: path))
                var running = try RunningFollower(replica: replica, source: source, queue: queue, logger: logger)
                try await running.whileRunning {
                    try #require(try await converged(replica, source))
                }
                await replica.base.close()
                // Down: more writes, published to its (durable) queue.
                var published = try await source.allEvents().count
                _ = try await write(source, count: 5, tag: "second")
                try await source.publish(Array(try await source.allEvents().dropFirst(published)))
                // Restarted late, on the same database.
                replica = CountingReplica(try await SQLiteDirectoryReplica.open(path: path))
                running = try RunningFollower(replica: replica, source: source, queue: queue, logger: logger)
                try await running.whileRunning {
                    try #require(try await converged(replica, source))
                }
                #expect(replica.applications.withLock { $0.count } == 5 + 3, "only the new events applied")
                await replica.base.close()
                // Its database lost: rebuilt from the history, then more events through the queue.
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
                published = try await source.allEvents().count
                _ = try await write(source, count: 3, tag: "third")
                try await source.publish(Array(try await source.allEvents().dropFirst(published)))
                replica = CountingReplica(try await SQLiteDirectoryReplica.open(path: path))
                running = try RunningFollower(replica: replica, source: source, queue: queue, logger: logger)
                try await running.whileRunning {
                    try #require(try await converged(replica, source))
                }
                #expect(replica.applications.withLock { $0.values.allSatisfy { $0 == 1 } })
                await replica.base.close()
            }
        }
    }

    @Test("a wrong token for the history is not logged; the follower ends with a configuration error, not ready")
    func wrongTokenNeverLogged() async throws {
        let source = try SourceService(exchange: FollowerBroker.unique("dir"), token: "right-token")
        let lines = Locked<[String]>([])
        let logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }
        try await withService(source.application()) {
            try #require(try await source.waitUntilServing())
            let running = try RunningFollower(
                replica: InMemoryDirectoryReplica(), source: source, queue: FollowerBroker.unique("q"),
                token: "wrong-secret-token", logger: logger)
            try await running.whileRunning {
                // 401: retrying can't help, so the follower's run ends (users directory serve exits 78).
                try #require(
                    try await Patience.waitUntil { lines.withLock { $0.contains { $0.contains("backfill refused") } } })
                #expect(!running.follower.isBackfilled)
                await #expect(throws: ConfigurationError.self) { try await running.follower.run() }
            }
        }
        #expect(lines.withLock { $0.allSatisfy { !$0.contains("wrong-secret-token") && !$0.contains("amqp-secret") } })
    }
}
