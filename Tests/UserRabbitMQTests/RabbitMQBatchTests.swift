import Foundation
import Logging
import Testing
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting
@testable import UserRabbitMQ

/// What a batch handler was given, call by call; it answers with `verdict`.
actor BatchRecorder {
    private(set) var batches: [[RabbitMQDelivery]] = []
    private var holdFirst: CheckedContinuation<Void, Never>?
    private var held = false
    private var released = false

    var deliveries: [RabbitMQDelivery] { batches.flatMap { $0 } }
    var acknowledged: [UserEventEnvelope] = []

    /// Records the batch; the first call waits for ``release()`` when `holdingFirst`.
    func record(_ batch: [RabbitMQDelivery], holdingFirst: Bool) async {
        batches.append(batch)
        if holdingFirst, batches.count == 1, !released {
            held = true
            await withCheckedContinuation { holdFirst = $0 }
        }
    }

    func acknowledge(_ envelopes: [UserEventEnvelope]) { acknowledged += envelopes }

    var isHolding: Bool { held && !released }

    func release() {
        released = true
        holdFirst?.resume()
        holdFirst = nil
    }

    nonisolated func waitForAcknowledged(_ count: Int) async throws -> Bool {
        try await Patience.waitUntil { await self.acknowledged.count >= count }
    }
}

extension RabbitMQTests {
    /// Publishes `events` with confirms through a publisher of its own.
    func publishAll(_ events: [UserEventEnvelope], url: RabbitMQURL, topology: RabbitMQTopology) async throws {
        let publisher = RabbitMQPublisher(
            configuration: TestBroker.publisherConfiguration(url, topology: topology), logger: logger)
        try await withRunning([publisher], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { publisher.status.isReady }, "the publisher never connected")
            let outcomes = await publisher.publish(events.inOutbox, notAfter: .now + .seconds(600))
            try #require(outcomes.allSatisfy { $0.isConfirmed })
        }
    }

    @Test("deliveries that arrived together reach a batch handler in one call, and all are acknowledged")
    func batchesArriveTogether() async throws {
        let url = try TestBroker.url
        let topology = RabbitMQTopology(exchange: TestBroker.unique("events"))
        let queue = TestBroker.unique("q")
        let (_, history) = try await events(users: 40, each: 5)
        let recorder = BatchRecorder()
        let consumer = RabbitMQConsumer(
            configuration: TestBroker.consumerConfiguration(url, topology: topology, queue: queue, prefetch: 50),
            logger: logger
        ) { (batch: [RabbitMQDelivery]) in
            await recorder.record(batch, holdingFirst: true)
            await recorder.acknowledge(batch.map(\.envelope))
            return Array(repeating: .acknowledge, count: batch.count)
        }
        try await withRunning([consumer], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { consumer.status.isReady })
            try await publishAll(history, url: url, topology: topology)
            // The first batch is held: the broker sends ahead up to the prefetch bound (50), the rest waits.
            try #require(try await Patience.waitUntil { await recorder.isHolding })
            try #require(
                try await Patience.waitUntil {
                    try await TestBroker.withConnection { try $0.messageCount(queue: queue) } == history.count - 50
                }, "the broker did not send the prefetched messages")
            await recorder.release()
            try #require(try await recorder.waitForAcknowledged(history.count))
        }
        let batches = await recorder.batches
        #expect(await recorder.deliveries.map(\.envelope) == history, "each once, in order")
        #expect(batches.map(\.count).max()! > 1, "\(batches.map(\.count))")
        #expect(batches.allSatisfy { $0.count <= 50 })
        #expect(await recorder.deliveries.allSatisfy { !$0.redelivered })
        // Nothing is left unacknowledged: with the consumer gone, the queue is empty.
        #expect(try await TestBroker.withConnection { try $0.messageCount(queue: queue) } == 0)
    }

    @Test("a batch handler's requeue verdicts put back only those messages; the others are acknowledged once")
    func batchRequeue() async throws {
        let url = try TestBroker.url
        let topology = RabbitMQTopology(exchange: TestBroker.unique("events"))
        let queue = TestBroker.unique("q")
        let (_, history) = try await events(users: 10, each: 4)
        let refusedUser = history[0].userID
        let recorder = BatchRecorder()
        let consumer = RabbitMQConsumer(
            configuration: TestBroker.consumerConfiguration(url, topology: topology, queue: queue), logger: logger
        ) { (batch: [RabbitMQDelivery]) in
            await recorder.record(batch, holdingFirst: false)
            // The refused user's events go back the first time they come.
            let verdicts: [RabbitMQConsumer.Verdict] = batch.map {
                $0.envelope.userID == refusedUser && !$0.redelivered ? .requeue : .acknowledge
            }
            await recorder.acknowledge(zip(batch, verdicts).filter { $0.1 == .acknowledge }.map(\.0.envelope))
            return verdicts
        }
        try await withRunning([consumer], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { consumer.status.isReady })
            try await publishAll(history, url: url, topology: topology)
            try #require(try await recorder.waitForAcknowledged(history.count))
        }
        let acknowledged = await recorder.acknowledged
        #expect(acknowledged.count == history.count)
        #expect(Set(acknowledged.map(\.eventID)) == Set(history.map(\.eventID)), "each acknowledged once")
        let deliveries = await recorder.deliveries
        let refused = history.filter { $0.userID == refusedUser }
        #expect(deliveries.filter(\.redelivered).map(\.envelope.eventID).sorted() == refused.map(\.eventID).sorted())
        #expect(try await TestBroker.withConnection { try $0.messageCount(queue: queue) } == 0)
    }

    @Test("a batch handler that throws puts its whole batch back, and it is delivered again")
    func batchThrows() async throws {
        struct Refused: Error {}
        let url = try TestBroker.url
        let topology = RabbitMQTopology(exchange: TestBroker.unique("events"))
        let queue = TestBroker.unique("q")
        let (_, history) = try await events(users: 10, each: 3)
        let recorder = BatchRecorder()
        let consumer = RabbitMQConsumer(
            configuration: TestBroker.consumerConfiguration(url, topology: topology, queue: queue), logger: logger
        ) { (batch: [RabbitMQDelivery]) in
            await recorder.record(batch, holdingFirst: false)
            if await recorder.batches.count == 1 { throw Refused() }
            await recorder.acknowledge(batch.map(\.envelope))
            return Array(repeating: .acknowledge, count: batch.count)
        }
        try await withRunning([consumer], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { consumer.status.isReady })
            try await publishAll(history, url: url, topology: topology)
            try #require(try await recorder.waitForAcknowledged(history.count))
        }
        let batches = await recorder.batches
        let first = Set(batches[0].map(\.envelope.eventID))
        let redelivered = Set(await recorder.deliveries.filter(\.redelivered).map(\.envelope.eventID))
        #expect(redelivered == first)
        #expect(Set(await recorder.acknowledged.map(\.eventID)) == Set(history.map(\.eventID)))
        #expect(await recorder.acknowledged.count == history.count)
        #expect(try await TestBroker.withConnection { try $0.messageCount(queue: queue) } == 0)
    }
}
