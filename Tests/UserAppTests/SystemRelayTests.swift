import Foundation
import Logging
import Testing
import UserApp
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting

/// A publisher that counts which of its two methods the relay calls, and that can be down (every batch
/// `.unavailable`, as a broker that can't be reached).
actor CountingPublisher: MessagePublisher {
    struct Down: Error {}
    var isUp = true
    private(set) var singleCalls = 0
    private(set) var batchCalls = 0
    private(set) var confirmed: [UserEventEnvelope] = []

    func setUp(_ up: Bool) { isUp = up }

    func publish(_ event: UserEventEnvelope) async throws {
        singleCalls += 1
        guard isUp else { throw Down() }
        confirmed.append(event)
    }

    func publish(_ events: [OutboxEvent], notAfter deadline: ContinuousClock.Instant) async -> [PublishOutcome] {
        batchCalls += 1
        guard isUp else { return events.map { _ in .unavailable(Down()) } }
        confirmed += events.map(\.envelope)
        return events.map { _ in .confirmed }
    }
}

/// The relay as `UserSystem` wires it (the wiring `users serve` runs), not as a test would build it by hand.
@Suite("UserSystem's relay")
struct SystemRelayTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test("each batch goes to the publisher's own batch method, never one event at a time")
    func batchesReachThePublisher() async throws {
        let publisher = CountingPublisher()
        let system = try UserSystem(store: InMemoryUserStore(), events: .publisher(publisher), logger: logger)
        for index in 0..<7 { _ = try await system.users.register(email: "b\(index)@example.com", displayName: "B") }
        let relay = try #require(system.relay)
        #expect(try await relay.publishPendingEvents() == 7)
        #expect(await publisher.batchCalls == 1, "one call for the batch: a broker awaits its confirms together")
        #expect(await publisher.singleCalls == 0)
        #expect(await publisher.confirmed.count == 7)
        await system.close()
    }

    @Test("an unreachable publisher parks nothing: more rounds than maxAttempts leave every event due, 0 dead")
    func outageThroughTheSystem() async throws {
        let publisher = CountingPublisher()
        await publisher.setUp(false)
        var options = UserSystemOptions()
        options.relay = .init(batchSize: 3, maximumAttempts: 2)
        let store = InMemoryUserStore()
        let system = try UserSystem(store: store, events: .publisher(publisher), options: options, logger: logger)
        for index in 0..<5 { _ = try await system.users.register(email: "o\(index)@example.com", displayName: "O") }
        let relay = try #require(system.relay)
        for _ in 0..<5 {
            await #expect(throws: (any Error).self) { try await relay.publishPendingEvents() }
        }
        let status = try await store.outboxStatus()
        #expect(status.deadCount == 0 && status.pendingCount == 5)
        #expect(try await store.unpublishedEvents(limit: 10).allSatisfy { $0.attempts == 0 })
        await publisher.setUp(true)
        #expect(try await relay.publishPendingEvents() == 5)
        #expect(try await store.outboxStatus().pendingCount == 0)
        await system.close()
    }

    @Test("users serve's wiring with a broker that can't be reached (amqp:// on a closed port): 0 attempts, 0 dead")
    func unreachableBrokerThroughTheConfiguration() async throws {
        let port = try ProcessHarness.freePort()
        let configuration = try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(
                arguments: [:],
                environment: [
                    "USERS_STORE": "memory:", "USERS_PUBLISHER": "amqp://u:p@127.0.0.1:\(port)/v",
                    "USERS_RELAY_MAX_ATTEMPTS": "1",
                ]))
        let store = InMemoryUserStore()
        let system = try UserSystem(
            store: store, events: configuration.publisher, options: configuration.systemOptions, logger: logger)
        _ = try await system.users.register(email: "u@example.com", displayName: "U")
        let relay = try #require(system.relay)
        for _ in 0..<3 {
            await #expect(throws: (any Error).self) { try await relay.publishPendingEvents() }
        }
        let status = try await store.outboxStatus()
        #expect(status.deadCount == 0 && status.pendingCount == 1)
        #expect(try await store.unpublishedEvents(limit: 10).allSatisfy { $0.attempts == 0 })
        await system.close()
    }

    @Test("a short-lived process that drains and closes gives the lease back: the next one relays at once")
    func drainingGivesTheLeaseBack() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lease-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = "sqlite:" + folder.appendingPathComponent("u.sqlite").path
        // Two runs of a command, one after the other, each with a relay of its own (a lease owner of its own).
        for run in 0..<2 {
            let publisher = CountingPublisher()
            let system = try await UserSystem.open(store: url, events: .none, logger: logger)
            _ = try await system.users.register(email: "run\(run)@example.com", displayName: "Run")
            let relay = OutboxRelay(outbox: system.store, publisher: publisher, logger: logger)
            #expect(try await relay.publishPendingEvents() == 1, "run \(run) relayed its event at once")
            await system.close()
        }
        // A relay that can't take the lease (another holds it) says so and publishes nothing.
        let store = InMemoryUserStore()
        _ = try await UserUseCases(repository: store).register(email: "held@example.com", displayName: "Held")
        #expect(try await store.acquireRelayLease(owner: "someone else", duration: .seconds(60)))
        let lines = Locked<[String]>([])
        let captured = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }
        let standby = OutboxRelay(outbox: store, publisher: CountingPublisher(), logger: captured)
        #expect(try await standby.publishPendingEvents() == 0)
        #expect(lines.withLock { $0.contains { $0.contains("another relay holds the lease") } })
        #expect(try await store.acquireRelayLease(owner: "someone else", duration: .seconds(60)), "not taken from it")
    }
}
