import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
public import UserDomain
import UserPorts

/// Consumes user events from RabbitMQ: a swift-service-lifecycle `Service` that declares a durable queue,
/// binds it to routing patterns on the topology's exchange, and hands the events to an async handler,
/// acknowledging them only after the handler returned.
///
/// Delivery is at least once: a message is acknowledged after its handler returned (its effect committed),
/// so a crash, a cancelled service or a lost connection before that gets it redelivered. Make the handler
/// idempotent: the package's idempotent consumers do exactly that (dedupe by event id in the same
/// transaction as the effect):
///
/// ```swift
/// let ledger = try await SQLiteIdempotentConsumer.open(path: "directory.sqlite", name: "directory")
/// let consumer = RabbitMQConsumer(configuration: configuration, logger: logger) { envelope in
///     try await ledger.handle(envelope) { db in try db.execute("…", […]) }
/// }
/// ```
///
/// Batches: the consumer takes the deliveries that arrived together (up to ``Configuration/batchSize``, never
/// waiting for more) and, with ``init(configuration:logger:batchHandler:)``, hands them to the handler in
/// one call, so it can apply them in one transaction (`SQLiteIdempotentConsumer.handle(_:_:)` with an
/// array, `DirectoryFollower.handle(_:)` with an array); then one `basic.ack` with `multiple` acknowledges
/// them all. The handler says, per delivery, ``Verdict/acknowledge``, ``Verdict/requeue`` or ``Verdict/park``.
/// A handler of one event at a time (``init(configuration:logger:handler:)``) is called for each delivery of the
/// batch in turn.
///
/// - A handler that throws, or a ``Verdict/requeue``: the message is put back (`basic.reject` with
///   requeue) after a doubling backoff (``Configuration/retryBackoff``), and consumption goes on; the
///   broker redelivers it. A batch handler that throws puts back its whole batch.
/// - A poison message (its body is not a valid envelope, or its `message_id`, `user-id` or `user-version`
///   header is missing or disagrees with the envelope: counted in `users_rabbitmq_mismatched_total`), or a
///   ``Verdict/park``: rejected without requeue, which the queue's
///   `x-dead-letter-exchange` (the default exchange) and `x-dead-letter-routing-key` route to the parking
///   queue ``Configuration/parkingQueue``; it never reaches the handler, and consumption goes on. Why
///   dead-lettering and not "publish to the parking queue, then ack": the broker moves the message in one
///   step, with the original body and properties and an `x-death` header saying why, where
///   publish-then-ack has a window in which a crash leaves the message in both queues, and needs confirms
///   of its own. (Quorum queues dead-letter at most once unless the queue's `dead-letter-strategy` is
///   `at-least-once`; a poison message is not worth more.)
/// - Order: deliveries reach the handler in the order the queue delivers them; a requeued message may
///   come back after later ones, so a handler that needs per-user order checks `userVersion` (and requeues
///   on a gap).
///
/// Every rabbitmq-c call runs on the consumer's own dispatch queue. The connection reconnects with a
/// jittered backoff after it dropped (heartbeats on); ``status`` and the gauge
/// `users_rabbitmq_consumer_state` show its state.
public final class RabbitMQConsumer: Service {
    /// A handler of the deliveries that arrived together, in delivery order: one ``Verdict`` per delivery,
    /// at the same index; throwing puts them all back.
    public typealias BatchHandler = @Sendable ([RabbitMQDelivery]) async throws -> [Verdict]

    /// What becomes of a delivery once its batch handler returned.
    public enum Verdict: Sendable, Hashable {
        /// Its effect committed (or it had one before): acknowledged.
        case acknowledge
        /// Not now (a gap before it, a transient failure): put back in the queue after the retry backoff.
        case requeue
        /// Never (a gap that outlasted every backfill, an event the handler can't ever apply): rejected without
        /// requeue, to the parking queue ``Configuration/parkingQueue``, logged at `error` and counted
        /// (`users_rabbitmq_parked_total`).
        case park
    }

    private let configuration: Configuration
    private let worker: AMQPWorker
    private let health: RabbitMQHealth
    private let logger: Logger
    private let handler: BatchHandler
    private let parkedCounter = Counter(label: "users_rabbitmq_parked_total")
    private let mismatchedCounter = Counter(label: "users_rabbitmq_mismatched_total")

    /// Creates a consumer whose handler gets the deliveries that arrived together, in one call.
    public init(configuration: Configuration, logger: Logger, batchHandler: @escaping BatchHandler) {
        self.configuration = configuration
        self.logger = logger
        self.handler = batchHandler
        worker = AMQPWorker(
            label: "user-rabbitmq.consumer", url: configuration.url,
            heartbeat: Int(configuration.heartbeat.components.seconds), timeout: configuration.timeout,
            backoff: configuration.reconnectBackoff)
        health = RabbitMQHealth(role: "consumer", url: configuration.url, logger: logger)
    }

    /// Creates a consumer whose handler gets each event, one at a time: a handler that throws puts that message
    /// back (after the retry backoff); the others of its batch are acknowledged.
    ///
    /// The only one-at-a-time form, so that a closure without a type annotation is never ambiguous; a handler
    /// that needs a delivery's metadata (`redelivered`, the headers) takes the batch form and its
    /// ``RabbitMQDelivery`` values.
    public convenience init(
        configuration: Configuration, logger: Logger,
        handler: @escaping @Sendable (UserEventEnvelope) async throws -> Void
    ) {
        self.init(configuration: configuration, logger: logger) { [logger] (deliveries: [RabbitMQDelivery]) in
            var verdicts: [Verdict] = []
            verdicts.reserveCapacity(deliveries.count)
            for delivery in deliveries {
                do {
                    try await handler(delivery.envelope)
                    verdicts.append(.acknowledge)
                } catch {
                    logger.warning(
                        "rabbitmq consumer's handler failed; the message goes back to the queue",
                        metadata: [
                            "event.id": "\(delivery.envelope.eventID)", "user.id": "\(delivery.envelope.userID)",
                            "error": "\(error)",
                        ])
                    verdicts.append(.requeue)
                }
            }
            return verdicts
        }
    }

    /// The connection's state now.
    public var status: RabbitMQConnectionStatus { health.status }

    /// Consumes until the task is cancelled or a graceful shutdown begins (the batch in hand is finished
    /// first), then closes the connection: unacknowledged messages go back to the queue.
    public func run() async throws {
        health.starting()
        var handlerFailures = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let batch: [AMQPIncoming]
            do {
                batch = try await worker.perform(setUp: prepare) { [configuration] connection in
                    try connection.nextDeliveries(
                        limit: min(configuration.batchSize, configuration.prefetch), timeout: configuration.pollInterval)
                }
                health.connected()
            } catch {
                health.failed(RabbitMQError.from(error))
                _ = try? await cancelWhenGracefulShutdown { [configuration] in
                    try await Task.sleep(for: configuration.reconnectBackoff.lowerBound)
                }
                continue
            }
            let (messages, deliveries) = await parkPoison(batch)
            guard !deliveries.isEmpty else { continue }
            var verdicts: [Verdict]
            do {
                verdicts = try await handler(deliveries)
                if verdicts.count != deliveries.count {
                    logger.error(
                        "rabbitmq consumer's batch handler gave \(verdicts.count) verdicts for \(deliveries.count) deliveries; the ones without go back to the queue")
                    verdicts = (0..<deliveries.count).map { $0 < verdicts.count ? verdicts[$0] : .requeue }
                }
            } catch {
                logger.warning(
                    "rabbitmq consumer's handler failed; its \(deliveries.count) messages go back to the queue",
                    metadata: ["event.id": "\(deliveries[0].envelope.eventID)", "error": "\(error)"])
                verdicts = Array(repeating: .requeue, count: deliveries.count)
            }
            if verdicts.allSatisfy({ $0 == .acknowledge }) {
                handlerFailures = 0
                // Every delivery up to the last is handled (earlier batches were settled, poison rejected).
                await settle(generation: batch[0].generation) { [tag = messages.last!.deliveryTag] connection in
                    try connection.ack(tag, multiple: true)
                }
                continue
            }
            let acknowledged = zip(messages, verdicts).filter { $0.1 == .acknowledge }.map(\.0.deliveryTag)
            let parked = zip(deliveries, zip(messages, verdicts)).filter { $0.1.1 == .park }
            for (delivery, _) in parked {
                logger.error(
                    "rabbitmq consumer parked a message its handler can't ever apply",
                    metadata: [
                        "rabbitmq.queue": "\(configuration.queue)", "rabbitmq.parking": "\(configuration.parkingQueue)",
                        "event.id": "\(delivery.envelope.eventID)", "user.id": "\(delivery.envelope.userID)",
                        "user.version": "\(delivery.envelope.userVersion)",
                    ])
            }
            if !parked.isEmpty { parkedCounter.increment(by: Int64(parked.count)) }
            await settle(generation: batch[0].generation) { [parked = parked.map(\.1.0.deliveryTag)] connection in
                for tag in acknowledged { try connection.ack(tag) }
                for tag in parked { try connection.reject(tag, requeue: false) }
            }
            let requeued = zip(messages, verdicts).filter { $0.1 == .requeue }.map(\.0)
            guard !requeued.isEmpty else {
                handlerFailures = 0
                continue
            }
            handlerFailures += 1
            if handlerFailures == 10 || handlerFailures % 100 == 0 {
                // A handler that fails the same way every time is retried forever: not without a word.
                logger.error(
                    "rabbitmq consumer: messages went back to the queue \(handlerFailures) times in a row; they are retried until the handler succeeds (see its errors above), or give them the park verdict",
                    metadata: ["rabbitmq.queue": "\(configuration.queue)", "count": "\(requeued.count)"])
            }
            let base = configuration.retryBackoff.lowerBound * (1 << min(handlerFailures - 1, 16))
            let delay = min(base, configuration.retryBackoff.upperBound) * Double.random(in: 0.5...1.0)
            logger.debug(
                "rabbitmq consumer puts messages back after a backoff",
                metadata: ["count": "\(requeued.count)", "retry.in": "\(delay)"])
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            await settle(generation: batch[0].generation) { [tags = requeued.map(\.deliveryTag)] connection in
                for tag in tags { try connection.reject(tag, requeue: true) }
            }
        }
        await worker.close()
        health.stopped()
    }

    /// Rejects (to the parking queue) the messages whose body is not a valid envelope; the others, with
    /// their decoded deliveries.
    private func parkPoison(_ batch: [AMQPIncoming]) async -> ([AMQPIncoming], [RabbitMQDelivery]) {
        var messages: [AMQPIncoming] = []
        var deliveries: [RabbitMQDelivery] = []
        for incoming in batch {
            let envelope = try? UserEventEnvelope(jsonData: incoming.body)
            let mismatch = envelope.flatMap { Self.mismatch(incoming, $0) }
            guard let envelope, mismatch == nil else {
                logger.warning(
                    mismatch.map { "rabbitmq consumer parked a message whose \($0) does not match its event" }
                        ?? "rabbitmq consumer parked a message that is not a valid event",
                    metadata: [
                        "rabbitmq.queue": "\(configuration.queue)", "rabbitmq.parking": "\(configuration.parkingQueue)",
                        "rabbitmq.routing_key": "\(incoming.routingKey)",
                        "rabbitmq.message_id": "\(incoming.messageID ?? "-")",
                    ])
                if mismatch != nil { mismatchedCounter.increment() }
                await settle(generation: incoming.generation) { [tag = incoming.deliveryTag] connection in
                    try connection.reject(tag, requeue: false)
                }
                continue
            }
            messages.append(incoming)
            deliveries.append(
                RabbitMQDelivery(
                    envelope: envelope, routingKey: incoming.routingKey, exchange: incoming.exchange,
                    messageID: incoming.messageID, contentType: incoming.contentType,
                    deliveryMode: incoming.deliveryMode, headers: incoming.headers, redelivered: incoming.redelivered))
        }
        return (messages, deliveries)
    }

    /// Which of the message's properties that the publisher derives from its event (`message_id`, the headers
    /// `user-id` and `user-version`) is missing or says something else than the event: a message that was not
    /// published as ``RabbitMQPublisher`` publishes (forged, or mixed up) is parked, never applied.
    static func mismatch(_ incoming: AMQPIncoming, _ envelope: UserEventEnvelope) -> String? {
        guard let messageID = incoming.messageID.flatMap(UUID.init(uuidString:)), messageID == envelope.eventID else {
            return "message_id"
        }
        guard let user = incoming.headers["user-id"].flatMap(UserID.init), user == envelope.userID else {
            return "user-id header"
        }
        guard let version = incoming.headers["user-version"].flatMap(Int.init), version == envelope.userVersion else {
            return "user-version header"
        }
        return nil
    }

    /// Acknowledges or rejects on the connection the messages came on; when that connection is gone, the
    /// broker has put the messages back already, and nothing is left to do.
    private func settle(
        generation: UInt64, _ body: @escaping @Sendable (AMQPConnection) throws -> Void
    ) async {
        do {
            try await worker.performIfConnected(generation: generation, body)
        } catch {
            health.failed(RabbitMQError.from(error))
        }
    }

    /// Declares the topology, the queue (with its dead-letter route to the parking queue) and its bindings,
    /// and starts consuming on a new connection.
    private func prepare(_ connection: AMQPConnection) throws(RabbitMQError) {
        try configuration.topology.declare(on: connection)
        try connection.declareQueue(configuration.parkingQueue, arguments: configuration.queueType.arguments)
        var arguments = configuration.queueType.arguments
        arguments.append(("x-dead-letter-exchange", .string("")))
        arguments.append(("x-dead-letter-routing-key", .string(configuration.parkingQueue)))
        try connection.declareQueue(configuration.queue, arguments: arguments)
        for pattern in configuration.bindings {
            try connection.bind(queue: configuration.queue, exchange: configuration.topology.exchange, pattern: pattern)
        }
        try connection.startConsuming(queue: configuration.queue, prefetch: configuration.prefetch)
        if configuration.drainsUnrouted {
            try connection.startConsuming(queue: configuration.topology.unroutedQueue, prefetch: configuration.prefetch)
        }
    }
}
