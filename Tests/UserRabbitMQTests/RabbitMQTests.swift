import Foundation
import Logging
import Testing
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting
@testable import UserRabbitMQ

/// Every test against the broker, one at a time: one of them kills and restarts it.
@Suite("RabbitMQ", .serialized)
struct RabbitMQTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A few events of two users.
    func events(users: Int = 2, each: Int = 3) async throws -> (InMemoryUserStore, [UserEventEnvelope]) {
        let store = InMemoryUserStore()
        let service = UserUseCases(repository: store)
        for index in 0..<users {
            let user = try await service.register(email: "u\(index)@example.com", displayName: "User \(index)")
            for round in 1..<each { _ = try await service.rename(user.id, to: "User \(index) r\(round)") }
        }
        return (store, try await store.unpublishedEvents(limit: 100_000).map(\.envelope))
    }

    @Test("a confirmed event arrives with its routing key, message id, headers, content type, persistent")
    func publishAndConsume() async throws {
        let url = try TestBroker.url
        let topology = RabbitMQTopology(exchange: TestBroker.unique("events"))
        let (_, history) = try await events()
        let publisher = RabbitMQPublisher(
            configuration: TestBroker.publisherConfiguration(url, topology: topology), logger: logger)
        let collector = DeliveryCollector()
        let consumer = RabbitMQConsumer(
            configuration: TestBroker.consumerConfiguration(url, topology: topology, queue: TestBroker.unique("q")),
            logger: logger
        ) { (batch: [RabbitMQDelivery]) in await collector.add(batch) }
        try await withRunning([consumer], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { consumer.status.isReady }, "the consumer never connected")
            try await withRunning([publisher], run: { try await $0.run() }) {
                try #require(try await Patience.waitUntil { publisher.status.isReady }, "the publisher never connected")
                for event in history { try await publisher.publish(event) }
                #expect(publisher.status.isReady)
                try #require(try await collector.waitFor(count: history.count))
            }
        }
        let deliveries = await collector.deliveries
        #expect(deliveries.map(\.envelope) == history)
        for delivery in deliveries {
            let event = delivery.envelope
            #expect(delivery.routingKey == event.type)
            #expect(delivery.exchange == topology.exchange)
            #expect(delivery.messageID == event.eventID.uuidString.lowercased())
            #expect(delivery.contentType == "application/json")
            #expect(delivery.deliveryMode == 2)
            #expect(delivery.headers["user-id"] == "\(event.userID)")
            #expect(delivery.headers["user-version"] == "\(event.userVersion)")
            #expect(!delivery.redelivered)
        }
        #expect(publisher.status.phase == .stopped)
    }

    @Test("a batch of 1,000 is confirmed with one call and consumed from a quorum queue")
    func thousand() async throws {
        let url = try TestBroker.url
        let topology = RabbitMQTopology(exchange: TestBroker.unique("events"))
        let (_, history) = try await events(users: 100, each: 10)
        #expect(history.count == 1000)
        let publisher = RabbitMQPublisher(
            configuration: TestBroker.publisherConfiguration(url, topology: topology), logger: logger)
        let collector = DeliveryCollector()
        let consumer = RabbitMQConsumer(
            configuration: TestBroker.consumerConfiguration(
                url, topology: topology, queue: TestBroker.unique("q"), queueType: .quorum, prefetch: 500),
            logger: logger
        ) { (batch: [RabbitMQDelivery]) in await collector.add(batch) }
        try await withRunning([consumer], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { consumer.status.isReady })
            try await withRunning([publisher], run: { try await $0.run() }) {
                try #require(try await Patience.waitUntil { publisher.status.isReady }, "the publisher never connected")
                let outcomes = await publisher.publish(history.inOutbox, notAfter: .now + .seconds(600))
                #expect(outcomes.count == 1000)
                let failures = outcomes.compactMap { if case .failed(let error) = $0 { "\(error)" } else { nil } }
                #expect(failures.isEmpty, "\(Set(failures))")
                #expect(outcomes.allSatisfy { $0.isConfirmed })
                try #require(try await collector.waitFor(count: 1000))
            }
        }
        #expect(await collector.envelopes == history)
        // Each message carries its position in the outbox, for a consumer's consistency tokens.
        #expect(await collector.deliveries.map(\.position?.rawValue) == (1...1000).map { Int64($0) })
    }

    @Test("an event published before any queue is bound waits in the unrouted queue and is delivered later")
    func unroutable() async throws {
        let url = try TestBroker.url
        let topology = RabbitMQTopology(exchange: TestBroker.unique("events"))
        let (_, history) = try await events(users: 1, each: 2)
        let publisher = RabbitMQPublisher(
            configuration: TestBroker.publisherConfiguration(url, topology: topology), logger: logger)
        try await withRunning([publisher], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { publisher.status.isReady }, "the publisher never connected")
            for event in history { try await publisher.publish(event) }  // confirmed: kept, not dropped
        }
        let unrouted = topology.unroutedQueue
        #expect(try await TestBroker.withConnection { try $0.messageCount(queue: unrouted) } == history.count)
        let collector = DeliveryCollector()
        let consumer = RabbitMQConsumer(
            configuration: TestBroker.consumerConfiguration(
                url, topology: topology, queue: TestBroker.unique("q"), drainsUnrouted: true),
            logger: logger
        ) { (batch: [RabbitMQDelivery]) in await collector.add(batch) }
        try await withRunning([consumer], run: { try await $0.run() }) {
            try #require(try await collector.waitFor(count: history.count))
        }
        let deliveries = await collector.deliveries
        #expect(deliveries.map(\.envelope) == history)
        #expect(deliveries.allSatisfy { $0.exchange == topology.exchange }, "the exchange it was published to, also through the alternate")
        #expect(try await TestBroker.withConnection { try $0.messageCount(queue: unrouted) } == 0)
        _ = try await TestBroker.withConnection { try $0.deleteQueue(unrouted) }
    }

    @Test("the outbox relay drains a store to the broker, one confirm wait per batch")
    func relay() async throws {
        let url = try TestBroker.url
        let topology = RabbitMQTopology(exchange: TestBroker.unique("events"))
        let (store, history) = try await events(users: 20, each: 5)
        let publisher = RabbitMQPublisher(
            configuration: TestBroker.publisherConfiguration(url, topology: topology), logger: logger)
        let collector = DeliveryCollector()
        let consumer = RabbitMQConsumer(
            configuration: TestBroker.consumerConfiguration(url, topology: topology, queue: TestBroker.unique("q")),
            logger: logger
        ) { (batch: [RabbitMQDelivery]) in await collector.add(batch) }
        let relay = OutboxRelay(outbox: store, publisher: publisher, configuration: .init(batchSize: 30), logger: logger)
        try await withRunning([consumer], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { consumer.status.isReady })
            try await withRunning([publisher], run: { try await $0.run() }) {
                try #require(try await Patience.waitUntil { publisher.status.isReady }, "the publisher never connected")
                #expect(try await relay.publishPendingEvents() == history.count)
                try #require(try await collector.waitFor(count: history.count))
            }
        }
        #expect(await collector.envelopes == history)
        #expect(try await store.unpublishedEvents(limit: 10).isEmpty)
    }

    @Test("a poison message is parked in the dead-letter queue and consumption goes on")
    func poison() async throws {
        let url = try TestBroker.url
        let topology = RabbitMQTopology(exchange: TestBroker.unique("events"))
        let queue = TestBroker.unique("q")
        let (_, history) = try await events(users: 1, each: 2)
        let collector = DeliveryCollector()
        let configuration = TestBroker.consumerConfiguration(url, topology: topology, queue: queue)
        let consumer = RabbitMQConsumer(configuration: configuration, logger: logger) { (batch: [RabbitMQDelivery]) in
            await collector.add(batch)
        }
        let publisher = RabbitMQPublisher(
            configuration: TestBroker.publisherConfiguration(url, topology: topology), logger: logger)
        try await withRunning([consumer], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { consumer.status.isReady })
            let exchange = topology.exchange
            _ = try await TestBroker.withConnection { connection in
                try connection.selectConfirms()
                let bogus = AMQPOutgoing(
                    routingKey: "user.registered", messageID: "poison", body: Array(#"{"not":"an event"}"#.utf8))
                let outcomes = connection.publishConfirmed([bogus], exchange: exchange, timeout: .seconds(30))
                #expect(outcomes.allSatisfy { $0.isConfirmed })
            }
            try await withRunning([publisher], run: { try await $0.run() }) {
                try #require(try await Patience.waitUntil { publisher.status.isReady }, "the publisher never connected")
                for event in history { try await publisher.publish(event) }
                try #require(try await collector.waitFor(count: history.count))
            }
            let parking = configuration.parkingQueue
            try #require(
                try await Patience.waitUntil {
                    try await TestBroker.withConnection { try $0.messageCount(queue: parking) } == 1
                }, "the poison message was not parked")
        }
        #expect(await collector.envelopes == history)
    }

    @Test("a valid event whose message_id or user-id header disagrees with it (forged, mixed up) is parked, never handled")
    func mismatchedProperties() async throws {
        let url = try TestBroker.url
        let topology = RabbitMQTopology(exchange: TestBroker.unique("events"))
        let queue = TestBroker.unique("q")
        let (_, history) = try await events(users: 2, each: 1)
        let collector = DeliveryCollector()
        let configuration = TestBroker.consumerConfiguration(url, topology: topology, queue: queue)
        let consumer = RabbitMQConsumer(configuration: configuration, logger: logger) { (batch: [RabbitMQDelivery]) in
            await collector.add(batch)
        }
        try await withRunning([consumer], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { consumer.status.isReady })
            let exchange = topology.exchange
            let forged = history[0]
            _ = try await TestBroker.withConnection { connection in
                try connection.selectConfirms()
                let body = Array(forged.jsonData())
                let messages = [
                    // Another message id than the event's.
                    AMQPOutgoing(routingKey: forged.type, messageID: UUID().uuidString.lowercased(), body: body),
                    // The event's id, but no user-id / user-version headers.
                    AMQPOutgoing(
                        routingKey: forged.type, messageID: forged.eventID.uuidString.lowercased(), body: body),
                ]
                let outcomes = connection.publishConfirmed(messages, exchange: exchange, timeout: .seconds(30))
                #expect(outcomes.allSatisfy { $0.isConfirmed })
            }
            let parking = configuration.parkingQueue
            try #require(
                try await Patience.waitUntil {
                    try await TestBroker.withConnection { try $0.messageCount(queue: parking) } == 2
                }, "the mismatched messages were not parked")
            let publisher = RabbitMQPublisher(
                configuration: TestBroker.publisherConfiguration(url, topology: topology), logger: logger)
            try await withRunning([publisher], run: { try await $0.run() }) {
                try #require(try await Patience.waitUntil { publisher.status.isReady }, "the publisher never connected")
                for event in history { try await publisher.publish(event) }
                try #require(try await collector.waitFor(count: history.count))
            }
        }
        #expect(await collector.envelopes == history, "only what the publisher published was handled")
    }

    @Test("a park verdict rejects that delivery to the parking queue; the others of its batch are acknowledged")
    func parkVerdict() async throws {
        let url = try TestBroker.url
        let topology = RabbitMQTopology(exchange: TestBroker.unique("events"))
        let queue = TestBroker.unique("q")
        let (_, history) = try await events(users: 3, each: 2)
        let doomed = history[1].eventID
        let seen = Locked<[UUID]>([])
        let configuration = TestBroker.consumerConfiguration(url, topology: topology, queue: queue)
        let consumer = RabbitMQConsumer(configuration: configuration, logger: logger) {
            (deliveries: [RabbitMQDelivery]) -> [RabbitMQConsumer.Verdict] in
            seen.withLock { $0 += deliveries.map(\.envelope.eventID) }
            return deliveries.map { $0.envelope.eventID == doomed ? .park : .acknowledge }
        }
        let publisher = RabbitMQPublisher(
            configuration: TestBroker.publisherConfiguration(url, topology: topology), logger: logger)
        try await withRunning([consumer], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { consumer.status.isReady })
            try await withRunning([publisher], run: { try await $0.run() }) {
                try #require(try await Patience.waitUntil { publisher.status.isReady }, "the publisher never connected")
                let outcomes = await publisher.publish(history.inOutbox, notAfter: .now + .seconds(600))
                #expect(outcomes.allSatisfy { $0.isConfirmed })
            }
            let parking = configuration.parkingQueue
            try #require(
                try await Patience.waitUntil {
                    try await TestBroker.withConnection { try $0.messageCount(queue: parking) } == 1
                }, "the parked delivery is not in the parking queue")
            try #require(try await Patience.waitUntil { seen.withLock { $0.count } >= history.count })
            // Nothing comes back: the acknowledged ones are settled, the parked one is out of the queue.
            #expect(
                try await TestBroker.withConnection { try $0.messageCount(queue: queue) } == 0, "nothing left or requeued")
        }
        #expect(seen.withLock { $0 }.count == history.count, "each delivery handled once: \(seen.withLock { $0 })")
    }

    @Test("a one-at-a-time handler needs no type annotation, and the configuration takes the URL as text as the publisher's does")
    func unannotatedHandler() throws {
        let seen = Locked<[UUID]>([])
        let consumer = RabbitMQConsumer(
            configuration: try .init(url: "amqp://u:p@127.0.0.1:1/v", queue: "never.consumed"),
            logger: logger
        ) { event in
            seen.withLock { $0.append(event.eventID) }
        }
        #expect(consumer.status.phase == .stopped || consumer.status.phase == .connecting)
    }
}
