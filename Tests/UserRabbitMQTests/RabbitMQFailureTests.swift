import Foundation
import Logging
import Testing
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting
@testable import UserRabbitMQ

/// Applies each user's events strictly in version order, once: a duplicate (an event id seen, or a version
/// already applied) is dropped; an event ahead of a gap throws, so the consumer puts it back.
actor OrderedApplier {
    struct Gap: Error {}
    private(set) var applied: [UserEventEnvelope] = []
    private var last: [UserID: Int] = [:]
    private(set) var duplicates = 0
    let ledger = InMemoryIdempotentConsumer(state: 0)

    func apply(_ event: UserEventEnvelope) async throws {
        let lastVersion = last[event.userID] ?? 0
        if event.userVersion <= lastVersion {
            duplicates += 1
            return
        }
        guard event.userVersion == lastVersion + 1 else { throw Gap() }
        let fresh = await ledger.handle(event) { $0 += 1 }
        if fresh {
            applied.append(event)
            last[event.userID] = event.userVersion
        } else {
            duplicates += 1
        }
    }

    var count: Int { applied.count }
}

extension RabbitMQTests {
    @Test("the broker SIGKILLed mid-stream and restarted: every committed event applied once, in per-user order", .plainPassOnly)
    func brokerKilled() async throws {
        let url = try TestBroker.url
        let topology = RabbitMQTopology(exchange: TestBroker.unique("events"))
        let store = InMemoryUserStore()
        let service = UserUseCases(repository: store)
        let applier = OrderedApplier()
        let publisher = RabbitMQPublisher(
            configuration: TestBroker.publisherConfiguration(url, topology: topology, timeout: .seconds(5)),
            logger: logger)
        let consumer = RabbitMQConsumer(
            configuration: TestBroker.consumerConfiguration(url, topology: topology, queue: TestBroker.unique("q")),
            logger: logger
        ) { (event: UserEventEnvelope) in try await applier.apply(event) }
        let relay = OutboxRelay(
            outbox: store, publisher: publisher,
            configuration: .init(
                batchSize: 50, pollInterval: .milliseconds(20), initialBackoff: .milliseconds(20),
                maximumBackoff: .milliseconds(300), maximumAttempts: 1000),
            logger: logger)
        var users: [User] = []
        func write(rounds: Int) async throws {
            for round in 0..<rounds {
                if users.count < 10 {
                    users.append(try await service.register(email: "k\(users.count)@example.com", displayName: "K"))
                }
                for user in users { _ = try await service.rename(user.id, to: "K \(round) \(UUID().uuidString.prefix(4))") }
            }
        }
        try await withRunning([consumer], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { consumer.status.isReady })
            try await withRunning([publisher], run: { try await $0.run() }) {
                try #require(try await Patience.waitUntil { publisher.status.isReady }, "the publisher never connected")
                try await withRunning([relay], run: { try await $0.run() }) {
                    try await write(rounds: 20)
                    try #require(try await Patience.waitUntil { await applier.count > 50 })
                    try await TestBroker.control("kill")
                    try await write(rounds: 20)  // committed while the broker is down: they wait in the outbox
                    try #require(try await Patience.waitUntil { publisher.status.phase != .connected })
                    try await TestBroker.control("restart")
                    try await write(rounds: 10)
                    let committed = try await store.events(after: nil, limit: 100_000).count
                    try #require(
                        try await Patience.waitUntil { await applier.count == committed },
                        "not every committed event reached the consumer")
                }
            }
        }
        let history = try await store.events(after: nil, limit: 100_000).map(\.envelope)
        let applied = await applier.applied
        #expect(Set(applied.map(\.eventID)) == Set(history.map(\.eventID)))
        #expect(applied.count == history.count, "none twice")
        for (_, events) in Dictionary(grouping: applied, by: \.userID) {
            #expect(events.map(\.userVersion) == Array(1...events.count), "per-user order")
        }
        #expect(try await store.unpublishedEvents(limit: 10).isEmpty)
    }

    @Test("a consumer stopped mid-batch without acknowledging: the rest is redelivered and applied once")
    func consumerKilled() async throws {
        let url = try TestBroker.url
        let topology = RabbitMQTopology(exchange: TestBroker.unique("events"))
        let queue = TestBroker.unique("q")
        let (_, history) = try await events(users: 5, each: 10)
        let ledger = InMemoryIdempotentConsumer(state: [UUID]())
        let handled = Locked(0)
        let redelivered = Locked(0)
        // The first consumer commits the 20th effect, then "crashes" before returning (it hangs until its
        // service is cancelled): that message and those it prefetched were never acknowledged.
        let first = RabbitMQConsumer(
            configuration: TestBroker.consumerConfiguration(url, topology: topology, queue: queue, prefetch: 50),
            logger: logger
        ) { (event: UserEventEnvelope) in
            await ledger.handle(event) { $0.append(event.eventID) }
            if handled.withLock({ count in count += 1; return count }) >= 20 {
                try await Task.sleep(for: .seconds(3600))
            }
        }
        let publisher = RabbitMQPublisher(
            configuration: TestBroker.publisherConfiguration(url, topology: topology), logger: logger)
        try await withRunning([first], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { first.status.isReady })
            try await withRunning([publisher], run: { try await $0.run() }) {
                try #require(try await Patience.waitUntil { publisher.status.isReady }, "the publisher never connected")
                let outcomes = await publisher.publish(history.inOutbox, notAfter: .now + .seconds(600))
                #expect(outcomes.allSatisfy { $0.isConfirmed })
            }
            try #require(try await Patience.waitUntil { handled.withLock { $0 } >= 20 })
        }
        let second = RabbitMQConsumer(
            configuration: TestBroker.consumerConfiguration(url, topology: topology, queue: queue), logger: logger
        ) { (deliveries: [RabbitMQDelivery]) in
            for delivery in deliveries {
                if delivery.redelivered { redelivered.withLock { $0 += 1 } }
                await ledger.handle(delivery.envelope) { $0.append(delivery.envelope.eventID) }
            }
            return deliveries.map { _ in .acknowledge }
        }
        try await withRunning([second], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { await ledger.state.count == history.count })
            // The message whose effect committed before the crash came again and was dropped by the ledger.
            try #require(try await Patience.waitUntil { redelivered.withLock { $0 } >= 1 })
        }
        let applied = await ledger.state
        #expect(applied.sorted { $0.uuidString < $1.uuidString } == history.map(\.eventID).sorted { $0.uuidString < $1.uuidString })
        #expect(Set(applied).count == applied.count, "applied once")
    }

    /// A publisher that cannot connect: typed error, the events stay in the outbox, no password in the logs.
    func refused(_ urlText: String, password: String, expect code: RabbitMQError.Code) async throws {
        let lines = Locked<[String]>([])
        let logger = Logger(label: "test", factory: { _ in CapturingLogHandler(lines: lines) })
        let (store, history) = try await events(users: 2, each: 2)
        let publisher = RabbitMQPublisher(
            configuration: TestBroker.publisherConfiguration(
                try RabbitMQURL(urlText), topology: RabbitMQTopology(exchange: TestBroker.unique("events")),
                timeout: .seconds(5)),
            logger: logger)
        let relay = OutboxRelay(
            outbox: store, publisher: publisher,
            configuration: .init(initialBackoff: .seconds(60), maximumBackoff: .seconds(60)), logger: logger)
        try await withRunning([publisher], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { publisher.status.lastError != nil })
            await #expect {
                try await publisher.publish(history[0])
            } throws: { error in
                (error as? RabbitMQError)?.code == code && !"\(error)".contains(password)
            }
            // The relay is told the publisher is unavailable (nothing was sent), without the password.
            await #expect {
                try await relay.publishPendingEvents()
            } throws: { error in
                "\(error)".contains("unavailable") && !"\(error)".contains(password)
            }
            #expect(publisher.status.lastError?.code == code)
            #expect(!publisher.status.isReady)
        }
        // Still in the outbox, unpublished and due: an unreachable broker counts no attempt (an outage never
        // parks events as dead).
        let outbox = try await store.events(after: nil, limit: 100)
        #expect(outbox.count == history.count, "nothing lost")
        #expect(outbox.map(\.attempts).reduce(0, +) == 0)
        #expect(try await store.unpublishedEvents(limit: 100).count == history.count)
        let captured = lines.withLock { $0 }
        #expect(!captured.isEmpty)
        #expect(captured.allSatisfy { !$0.contains(password) }, "a log line shows the password")
        #expect(try await store.events(after: nil, limit: 100).compactMap(\.lastError).isEmpty)
    }

    @Test("wrong credentials: access refused, events stay in the outbox, no password logged")
    func wrongCredentials() async throws {
        let base = try TestBroker.url
        try await refused(
            "amqp://app:wrong-secret-pw-42@127.0.0.1:\(base.port)/\(base.virtualHost)", password: "wrong-secret-pw-42",
            expect: .accessRefused)
    }

    @Test("unknown virtual host: typed error, events stay, no password logged")
    func unknownVirtualHost() async throws {
        let text = try TestBroker.urlString
        let base = try TestBroker.url
        try await refused(
            text.replacingOccurrences(of: "/\(base.virtualHost)", with: "/no-such-vhost"),
            password: base.password, expect: .unknownVirtualHost)
    }

    @Test("unreachable broker: typed error, events stay, no password logged")
    func unreachable() async throws {
        // A port nobody listens on: bound, then closed.
        try await refused("amqp://app:unreach-secret-pw@127.0.0.1:1/users_test", password: "unreach-secret-pw", expect: .unreachable)
    }
}
