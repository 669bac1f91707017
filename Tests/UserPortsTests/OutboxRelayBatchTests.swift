import Foundation
import Logging
import Testing
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting

/// A publisher that implements the batch call as a pipelining broker would: every event of a batch goes
/// out at once, and the ones the policy picks fail (a nack); the others are confirmed, even a failed user's
/// later events. It records every call and every event that "arrived".
actor PipeliningPublisher: MessagePublisher {
    private(set) var batchSizes: [Int] = []
    private(set) var arrived: [UserEventEnvelope] = []
    private(set) var singleCalls = 0
    private var fails: @Sendable (UserEventEnvelope) -> Bool
    /// Events from this index on in a batch are reported not attempted (as if the deadline passed).
    private var notAttemptedFrom: Int?

    struct Nack: Error {}

    init(fails: @escaping @Sendable (UserEventEnvelope) -> Bool = { _ in false }) {
        self.fails = fails
    }

    func set(fails: @escaping @Sendable (UserEventEnvelope) -> Bool, notAttemptedFrom: Int? = nil) {
        self.fails = fails
        self.notAttemptedFrom = notAttemptedFrom
    }

    func publish(_ event: UserEventEnvelope) async throws {
        singleCalls += 1
        throw Nack()
    }

    func publish(_ events: [OutboxEvent], notAfter deadline: ContinuousClock.Instant) async -> [PublishOutcome] {
        batchSizes.append(events.count)
        return events.map(\.envelope).enumerated().map { index, event in
            if let limit = notAttemptedFrom, index >= limit { return .notAttempted }
            if fails(event) { return .failed(Nack()) }
            arrived.append(event)
            return .confirmed
        }
    }
}

@Suite("OutboxRelay batch publishing")
struct OutboxRelayBatchTests {
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
            for user in users { _ = try await service.rename(user.id, to: "User \(user.id) r\(round)") }
        }
        return try await store.unpublishedEvents(limit: 1000).map(\.envelope)
    }

    /// What a consumer that applies a user's events strictly in version order (dropping one that arrives
    /// ahead of a gap, or again) ends up applying.
    func appliedInOrder(_ arrived: [UserEventEnvelope]) -> Set<UUID> {
        var last: [UserID: Int] = [:]
        var applied: Set<UUID> = []
        for event in arrived where event.userVersion == (last[event.userID] ?? 0) + 1 {
            last[event.userID] = event.userVersion
            applied.insert(event.eventID)
        }
        return applied
    }

    @Test("one publisher call per batch, never one per event")
    func oneCallPerBatch() async throws {
        let history = try await makeHistory()
        let publisher = PipeliningPublisher()
        let relay = OutboxRelay(outbox: store, publisher: publisher, configuration: .init(batchSize: 25), logger: logger)
        #expect(try await relay.publishPendingEvents() == 60)
        #expect(await publisher.batchSizes == [25, 25, 10])
        #expect(await publisher.singleCalls == 0)
        #expect(await publisher.arrived == history)
        #expect(try await store.unpublishedEvents(limit: 10).isEmpty)
    }

    @Test("a failed event in a batch: the rest is marked, its user's later events are held and follow it")
    func failureInBatch() async throws {
        let history = try await makeHistory()
        let failed = history[25]
        let laterOfUser = history[26...].filter { $0.userID == failed.userID }
        let failOnce = Locked(true)
        let publisher = PipeliningPublisher(fails: { event in
            event.eventID == failed.eventID && failOnce.withLock { $0 }
        })
        let relay = OutboxRelay(
            outbox: store, publisher: publisher,
            configuration: .init(batchSize: 100, initialBackoff: .milliseconds(1), maximumBackoff: .milliseconds(2)),
            logger: logger)
        #expect(try await relay.publishPendingEvents() == 60 - 1 - laterOfUser.count)
        let waiting = try await store.unpublishedEvents(limit: 1000)
        // Due again after the backoff: the failed event with one attempt recorded, and its user's later
        // events, which the pipelining publisher got out but the relay did not mark, with none.
        if let first = waiting.first {
            #expect(first.envelope == failed)
            #expect(first.attempts == 1)
            #expect(waiting.dropFirst().allSatisfy { $0.attempts == 0 })
        }
        failOnce.withLock { $0 = false }
        try #require(
            try await Patience.waitUntil {
                try await relay.publishPendingEvents()
                return try await store.outboxStatus().pendingCount == 0
            })
        let arrived = await publisher.arrived
        let afterRetry = arrived.drop { $0 != failed }
        #expect(Array(afterRetry) == [failed] + laterOfUser, "the held events come again, after the failed one")
        #expect(appliedInOrder(arrived) == Set(history.map(\.eventID)), "an in-order consumer applies everything")
    }

    @Test("events the publisher did not attempt are left due without an attempt, and go in the next batch")
    func notAttempted() async throws {
        let history = try await makeHistory()
        let publisher = PipeliningPublisher()
        await publisher.set(fails: { _ in false }, notAttemptedFrom: 40)
        let relay = OutboxRelay(outbox: store, publisher: publisher, configuration: .init(batchSize: 100), logger: logger)
        #expect(try await relay.publishPendingEvents() == 40)
        let waiting = try await store.unpublishedEvents(limit: 1000)
        #expect(waiting.map(\.envelope) == Array(history[40...]))
        #expect(waiting.allSatisfy { $0.attempts == 0 })
        await publisher.set(fails: { _ in false })
        #expect(try await relay.publishPendingEvents() == 20)
        #expect(await publisher.arrived == history)
    }

    @Test("failures in a batch count towards the dead letter, per event")
    func deadAfterAttempts() async throws {
        let history = try await makeHistory()
        let poisoned = history[3]
        let publisher = PipeliningPublisher(fails: { $0.eventID == poisoned.eventID })
        let relay = OutboxRelay(
            outbox: store, publisher: publisher,
            configuration: .init(
                batchSize: 100, initialBackoff: .milliseconds(1), maximumBackoff: .milliseconds(1), maximumAttempts: 3),
            logger: logger)
        try #require(
            try await Patience.waitUntil {
                try await relay.publishPendingEvents()
                return !(try await store.deadEvents(limit: 10).isEmpty)
            })
        let dead = try await store.deadEvents(limit: 10)
        #expect(dead.map(\.envelope) == [poisoned])
        #expect(dead.first?.attempts == 3)
        let marked = Set(history.map(\.eventID)).subtracting(try await store.unpublishedEvents(limit: 100).map(\.envelope.eventID))
        #expect(marked.isSuperset(of: history.filter { $0.userID != poisoned.userID }.map(\.eventID)))
    }

    @Test("the default batch publish goes one by one and holds a failed user's later events")
    func defaultBatch() async throws {
        let history = try await makeHistory()
        let failed = history[12]
        let publisher = RecordingPublisher(failing: .when { $0.eventID == failed.eventID })
        let entries = history.enumerated().map { OutboxEvent(position: EventPosition(rawValue: Int64($0 + 1)), envelope: $1) }
        let outcomes = await publisher.publish(entries, notAfter: .now + .seconds(60))
        #expect(outcomes.count == history.count)
        for (event, outcome) in zip(history, outcomes) {
            if event == failed {
                if case .failed = outcome {} else { Issue.record("the failing event is failed") }
            } else if event.userID == failed.userID && event.userVersion > failed.userVersion {
                if case .notAttempted = outcome {} else { Issue.record("a held event was attempted") }
            } else {
                #expect(outcome.isConfirmed)
            }
        }
        let late = await publisher.publish(entries, notAfter: .now - .seconds(1))
        #expect(late.allSatisfy { if case .notAttempted = $0 { true } else { false } })
    }
}
