import Foundation
import Logging
import ServiceLifecycle
import Testing
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting

@Suite("OutboxRelay")
struct OutboxRelayTests {
    let store = InMemoryUserStore()
    var service: UserUseCases<InMemoryUserStore> { UserUseCases(repository: store) }
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Ten users with five changes each: 60 events, interleaved across users.
    func makeHistory() async throws -> [UserEventEnvelope] {
        var users: [User] = []
        for index in 0..<10 {
            users.append(try await service.register(email: "u\(index)@example.com", displayName: "User \(index)"))
        }
        for round in 1...5 {
            for user in users {
                _ = try await service.rename(user.id, to: "User \(user.id) r\(round)")
            }
        }
        return try await store.unpublishedEvents(limit: 1000).map(\.envelope)
    }

    func expectInOrderPerUser(_ delivered: [UserEventEnvelope]) {
        let byUser = Dictionary(grouping: delivered, by: \.userID)
        for (_, events) in byUser {
            let versions = events.map(\.userVersion)
            #expect(versions == versions.sorted(), "per-user order")
        }
    }

    @Test("a publisher that never fails gets every event exactly once, in order")
    func exactlyOnce() async throws {
        let history = try await makeHistory()
        #expect(history.count == 60)
        let publisher = RecordingPublisher()
        let relay = OutboxRelay(
            outbox: store, publisher: publisher, configuration: .init(batchSize: 7), logger: logger)
        #expect(try await relay.publishPendingEvents() == 60)
        #expect(await publisher.events == history)
        #expect(try await store.unpublishedEvents(limit: 10).isEmpty)
        #expect(try await relay.publishPendingEvents() == 0)
    }

    @Test("a publisher that fails every third call gets every event at least once, in order per user")
    func atLeastOnce() async throws {
        let history = try await makeHistory()
        let publisher = RecordingPublisher(failing: .everyNthCall(3))
        let relay = OutboxRelay(
            outbox: store, publisher: publisher,
            configuration: .init(
                batchSize: 10, pollInterval: .milliseconds(20), initialBackoff: .milliseconds(1),
                maximumBackoff: .milliseconds(5)),
            logger: logger)
        let running = Task { try await relay.run() }
        try #require(await publisher.waitForEvents(count: history.count))
        running.cancel()
        try await running.value
        let delivered = await publisher.events
        #expect(Set(delivered.map(\.eventID)) == Set(history.map(\.eventID)))
        #expect(await publisher.failureCount >= 20)
        expectInOrderPerUser(delivered)
        #expect(delivered.count == history.count, "no event twice: every failure was before the publish")
        #expect(try await store.unpublishedEvents(limit: 10).isEmpty)
    }

    @Test("a failure mid-batch holds back only that user's later events; they follow after the retry")
    func midBatchFailure() async throws {
        let history = try await makeHistory()
        let failOnce = Locked(true)
        let failed = history[25]
        let publisher = RecordingPublisher(
            failing: .when { event in
                event.eventID == failed.eventID
                    && failOnce.withLock { fail in
                        defer { fail = false }
                        return fail
                    }
            })
        let relay = OutboxRelay(
            outbox: store, publisher: publisher,
            configuration: .init(batchSize: 100, initialBackoff: .milliseconds(1), maximumBackoff: .milliseconds(2)),
            logger: logger)
        #expect(try await relay.publishPendingEvents() == 60 - 4, "all but the failed event and its user's 3 later")
        let held = history[25...].filter { $0.userID == failed.userID }
        #expect(held.count == 4)
        #expect(await publisher.events == history.filter { !held.contains($0) })
        let waiting = try await store.unpublishedEvents(limit: 1000)
        #expect(waiting.isEmpty || waiting.first?.attempts == 1)
        try await Task.sleep(for: .milliseconds(20))
        #expect(try await relay.publishPendingEvents() == 4)
        let delivered = await publisher.events
        #expect(Array(delivered.suffix(4)) == held)
        #expect(Set(delivered.map(\.eventID)).count == 60)
        expectInOrderPerUser(delivered)
    }

    @Test("a publisher that always fails for one user's event parks it as dead; other users' events keep flowing")
    func deadLetter() async throws {
        let history = try await makeHistory()
        let poisoned = history[3]
        let failing = Locked(true)
        let publisher = RecordingPublisher(
            failing: .when { event in event.eventID == poisoned.eventID && failing.withLock { $0 } })
        let relay = OutboxRelay(
            outbox: store, publisher: publisher,
            configuration: .init(
                batchSize: 10, pollInterval: .milliseconds(10), initialBackoff: .milliseconds(1),
                maximumBackoff: .milliseconds(4), maximumAttempts: 3),
            logger: logger)
        let running = Task { try await relay.run() }
        let others = history.filter { $0.userID != poisoned.userID }
        try #require(await publisher.waitForEvents(count: others.count))
        var dead: [OutboxEvent] = []
        try #require(
            try await Patience.waitUntil {
                dead = try await store.deadEvents(limit: 10)
                return !dead.isEmpty
            }, "the poisoned event was never parked")
        #expect(dead.map(\.envelope) == [poisoned])
        #expect(dead.first?.attempts == 3)
        #expect(dead.first?.lastError?.isEmpty == false)
        #expect(await publisher.events == others, "the poisoned user's events wait; the others all went")
        #expect(try await store.outboxStatus().deadCount == 1)

        failing.withLock { $0 = false }
        #expect(try await store.retryDeadEvents(nil) == 1)
        try #require(await publisher.waitForEvents(count: history.count))
        running.cancel()
        try await running.value
        let delivered = await publisher.events
        #expect(delivered.filter { $0.userID == poisoned.userID } == history.filter { $0.userID == poisoned.userID })
        #expect(try await store.outboxStatus() == OutboxStatus(pendingCount: 0, oldestPendingAt: nil, deadCount: 0))
    }

    @Test("two relays on one store: one publishes at a time, every event once; the standby takes over")
    func twoRelays() async throws {
        let history = try await makeHistory()
        let publisher = OverlapDetectingPublisher()
        func relay(_ owner: String) -> OutboxRelay<InMemoryUserStore> {
            OutboxRelay(
                outbox: store, publisher: publisher,
                configuration: .init(batchSize: 5, pollInterval: .milliseconds(5), owner: owner), logger: logger)
        }
        let first = Task { try await relay("first").run() }
        let second = Task { try await relay("second").run() }
        try #require(await publisher.waitForEvents(count: history.count))
        #expect(await publisher.overlapped == false, "two relays published at the same time")
        #expect(await publisher.events == history, "exactly once, in order")
        // Whichever holds the lease stops; the other takes over within its poll interval.
        first.cancel()
        try await first.value
        _ = try await service.register(email: "after@example.com", displayName: "After")
        try #require(await publisher.waitForEvents(count: history.count + 1))
        second.cancel()
        try await second.value
        #expect(await publisher.overlapped == false)
    }

    @Test("a crash between publish and mark republishes only that batch; an idempotent consumer applies each once")
    func crashBeforeMark() async throws {
        let history = try await makeHistory()
        let outbox = MarkFailingOutbox(store: store)
        let publisher = RecordingPublisher()
        let relay = OutboxRelay(
            outbox: outbox, publisher: publisher,
            configuration: .init(
                batchSize: 8, pollInterval: .milliseconds(5), initialBackoff: .milliseconds(1),
                maximumBackoff: .milliseconds(2)),
            logger: logger)
        let running = Task { try await relay.run() }
        try #require(await publisher.waitForEvents(count: history.count + 8))
        running.cancel()
        try await running.value
        let delivered = await publisher.events
        try #require(delivered.count == history.count + 8, "one batch of 8 delivered twice")
        #expect(Array(delivered[8..<16]) == Array(delivered[0..<8]), "the duplicates are the interrupted batch")
        #expect(Set(delivered.map(\.eventID)) == Set(history.map(\.eventID)))

        let consumer = InMemoryIdempotentConsumer(state: [UserID: Int]())
        var applied = 0
        for event in delivered where await consumer.handle(event, { $0[event.userID, default: 0] += 1 }) {
            applied += 1
        }
        #expect(applied == history.count)
        #expect(await consumer.state.values.reduce(0, +) == history.count)
    }

    @Test("the relay wakes on the commit signal, not only on its poll interval")
    func wakesOnCommit() async throws {
        let publisher = RecordingPublisher()
        let relay = OutboxRelay(
            outbox: store, publisher: publisher, configuration: .init(pollInterval: .seconds(3600)), logger: logger)
        let running = Task { try await relay.run() }
        // Give the relay time to go idle; correctness does not depend on it, only the path tested.
        try await Task.sleep(for: .milliseconds(50))
        _ = try await service.register(email: "late@example.com", displayName: "Late")
        try #require(await publisher.waitForEvents(count: 1))
        running.cancel()
        try await running.value
    }

    @Test("graceful shutdown stops the relay")
    func gracefulShutdown() async throws {
        _ = try await makeHistory()
        let publisher = RecordingPublisher()
        let relay = OutboxRelay(
            outbox: store, publisher: publisher, configuration: .init(pollInterval: .seconds(3600)), logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [relay], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger))
        let running = Task { try await group.run() }
        try #require(await publisher.waitForEvents(count: 60))
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(await publisher.events.count == 60)
    }
}

@Suite("CommitSignal")
struct CommitSignalTests {
    @Test("a wait returns at once when the generation already moved")
    func alreadySignalled() async {
        let signal = CommitSignal()
        let seen = signal.generation
        signal.signal()
        #expect(await signal.wait(after: seen, timeout: .seconds(3600)))
    }

    @Test("a signal wakes a waiter")
    func wakes() async {
        let signal = CommitSignal()
        let seen = signal.generation
        let waiter = Task { await signal.wait(after: seen, timeout: .seconds(3600)) }
        try? await Task.sleep(for: .milliseconds(10))
        signal.signal()
        #expect(await waiter.value)
    }

    @Test("a wait times out without a signal")
    func timesOut() async {
        let signal = CommitSignal()
        #expect(await signal.wait(after: signal.generation, timeout: .milliseconds(10)) == false)
    }

    @Test("cancellation ends a wait")
    func cancellation() async {
        let signal = CommitSignal()
        let waiter = Task { await signal.wait(after: signal.generation, timeout: .seconds(3600)) }
        waiter.cancel()
        #expect(await waiter.value == false)
    }

    @Test("many waiters and signallers: nobody is left waiting")
    func stress() async {
        let signal = CommitSignal()
        let finished = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    let seen = signal.generation
                    #expect(await signal.wait(after: seen, timeout: .seconds(3600)))
                    finished.increment()
                }
            }
            group.addTask {
                // Keep signalling until every waiter has been woken.
                while finished.value < 100 {
                    signal.signal()
                    await Task.yield()
                }
            }
            await group.waitForAll()
        }
    }
}

final class Counter: Sendable {
    private let count = Locked(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}

/// An outbox whose first `markPublished` fails, as if the relay crashed after publishing a batch and before
/// marking it.
struct MarkFailingOutbox: EventOutbox {
    struct Crash: Error {}
    let store: InMemoryUserStore
    private let crashed = Locked(false)

    init(store: InMemoryUserStore) {
        self.store = store
    }

    var commitSignal: CommitSignal { store.commitSignal }
    func unpublishedEvents(limit: Int) async throws -> [OutboxEvent] { try await store.unpublishedEvents(limit: limit) }
    func markPublished(_ positions: [EventPosition]) async throws {
        let crash = crashed.withLock { crashed in
            defer { crashed = true }
            return !crashed
        }
        if crash { throw Crash() }
        try await store.markPublished(positions)
    }
    func markFailed(_ position: EventPosition, reason: String, retryAt: Date?) async throws {
        try await store.markFailed(position, reason: reason, retryAt: retryAt)
    }
    func deadEvents(limit: Int) async throws -> [OutboxEvent] { try await store.deadEvents(limit: limit) }
    func retryDeadEvents(_ positions: [EventPosition]?) async throws -> Int { try await store.retryDeadEvents(positions) }
    func events(after position: EventPosition?, limit: Int) async throws -> [OutboxEvent] {
        try await store.events(after: position, limit: limit)
    }
    func outboxStatus() async throws -> OutboxStatus { try await store.outboxStatus() }
    func deletePublishedEvents(before date: Date) async throws -> Int {
        try await store.deletePublishedEvents(before: date)
    }
    func trimmedThrough() async throws -> EventPosition? { try await store.trimmedThrough() }
    func acquireRelayLease(owner: String, duration: Duration) async throws -> Bool {
        try await store.acquireRelayLease(owner: owner, duration: duration)
    }
    func releaseRelayLease(owner: String) async throws { try await store.releaseRelayLease(owner: owner) }
}
