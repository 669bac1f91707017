import Foundation
import Logging
import Testing
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting

/// A publisher whose destination is down until `isUp` is set: it reports every batch unavailable.
actor SwitchablePublisher: MessagePublisher {
    struct Down: Error {}
    var isUp = false
    private(set) var confirmed: [UserEventEnvelope] = []
    private(set) var unavailableBatches = 0

    func setUp(_ up: Bool) { isUp = up }

    func publish(_ event: UserEventEnvelope) async throws {
        guard isUp else { throw Down() }
        confirmed.append(event)
    }

    func publish(_ events: [OutboxEvent], notAfter deadline: ContinuousClock.Instant) async -> [PublishOutcome] {
        guard isUp else {
            unavailableBatches += 1
            return events.map { _ in .unavailable(Down()) }
        }
        confirmed += events.map(\.envelope)
        return events.map { _ in .confirmed }
    }
}

@Suite("OutboxRelay with an unreachable publisher")
struct OutboxRelayUnavailableTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test("an outage counts no attempt: after more rounds than maximumAttempts nothing is dead, and all is published once it is back")
    func outage() async throws {
        let store = InMemoryUserStore()
        let users = UserUseCases(repository: store)
        for index in 0..<5 { _ = try await users.register(email: "o\(index)@example.com", displayName: "O \(index)") }
        let publisher = SwitchablePublisher()
        let relay = OutboxRelay(
            outbox: store, publisher: publisher, configuration: .init(batchSize: 3, maximumAttempts: 2), logger: logger)
        for _ in 0..<5 {
            await #expect(throws: (any Error).self) { try await relay.publishPendingEvents() }
        }
        #expect(await publisher.unavailableBatches == 5)
        let status = try await store.outboxStatus()
        #expect(status.pendingCount == 5 && status.deadCount == 0)
        #expect(try await store.unpublishedEvents(limit: 10).allSatisfy { $0.attempts == 0 && $0.lastError == nil })
        await publisher.setUp(true)
        #expect(try await relay.publishPendingEvents() == 5)
        #expect(await publisher.confirmed.count == 5)
        #expect(try await store.outboxStatus().pendingCount == 0)
    }
}
