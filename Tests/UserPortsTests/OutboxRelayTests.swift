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
    var service: UserService<InMemoryUserStore> { UserService(repository: store) }
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
        return await store.unpublishedEvents(limit: 1000).map(\.envelope)
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
        #expect(await store.unpublishedEvents(limit: 10).isEmpty)
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
        #expect(await publisher.waitForEvents(count: history.count, timeout: .seconds(30)))
        running.cancel()
        try await running.value
        let delivered = await publisher.events
        #expect(Set(delivered.map(\.eventID)) == Set(history.map(\.eventID)))
        #expect(await publisher.failureCount >= 20)
        expectInOrderPerUser(delivered)
        // The relay never skips past a failed event, so even the global order holds.
        #expect(delivered.map(\.eventID) == history.map(\.eventID))
        #expect(await store.unpublishedEvents(limit: 10).isEmpty)
    }

    @Test("a failure mid-batch marks what was published and retries from the failed event")
    func midBatchFailure() async throws {
        let history = try await makeHistory()
        let failOnce = Locked(true)
        let target = history[25].eventID
        let publisher = RecordingPublisher(
            failing: .when { event in
                event.eventID == target
                    && failOnce.withLock { fail in
                        defer { fail = false }; return fail
                    }
            })
        let relay = OutboxRelay(
            outbox: store, publisher: publisher, configuration: .init(batchSize: 100), logger: logger)
        await #expect(throws: RecordingPublisher.InjectedFailure.self) { try await relay.publishPendingEvents() }
        #expect(await publisher.events == Array(history[..<25]))
        #expect(await store.unpublishedEvents(limit: 1000).map(\.envelope) == Array(history[25...]))
        try await relay.publishPendingEvents()
        #expect(await publisher.events == history)
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
        #expect(await publisher.waitForEvents(count: 1, timeout: .seconds(30)))
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
        #expect(await publisher.waitForEvents(count: 60, timeout: .seconds(30)))
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
