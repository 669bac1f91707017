import Foundation
public import Logging
public import ServiceLifecycle
public import UserDomain
import UserPorts

/// Consumes user events from RabbitMQ: a swift-service-lifecycle `Service` that declares a durable queue,
/// binds it to routing patterns on the topology's exchange, and hands every event to an async handler,
/// acknowledging it only after the handler returned.
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
/// - A handler that throws: the message is put back (`basic.reject` with requeue) after a doubling backoff
///   (``Configuration/retryBackoff``), and consumption goes on; the broker redelivers it.
/// - A poison message (its body is not a valid envelope): rejected without requeue, which the queue's
///   `x-dead-letter-exchange` (the default exchange) and `x-dead-letter-routing-key` route to the parking
///   queue ``Configuration/parkingQueue``; consumption goes on. Why dead-lettering and not "publish to the
///   parking queue, then ack": the broker moves the message in one step, with the original body and
///   properties and an `x-death` header saying why, where publish-then-ack has a window in which a crash
///   leaves the message in both queues, and needs confirms of its own. (Quorum queues dead-letter at most
///   once unless the queue's `dead-letter-strategy` is `at-least-once`; a poison message is not worth more.)
/// - Order: messages are handled one at a time, in the order the queue delivers them; a requeued message
///   may come back after later ones, so a handler that needs per-user order checks `userVersion` (and
///   throws on a gap to have the message redelivered).
///
/// Every rabbitmq-c call runs on the consumer's own dispatch queue. The connection reconnects with a
/// jittered backoff after it dropped (heartbeats on); ``status`` and the gauge
/// `users_rabbitmq_consumer_state` show its state.
public final class RabbitMQConsumer: Service {
    /// The handler's type: called once per delivered event; throwing puts the message back.
    public typealias Handler = @Sendable (RabbitMQDelivery) async throws -> Void

    private let configuration: Configuration
    private let worker: AMQPWorker
    private let health: RabbitMQHealth
    private let logger: Logger
    private let handler: Handler

    /// Creates a consumer whose handler gets each delivery with its metadata.
    public init(configuration: Configuration, logger: Logger, handler: @escaping Handler) {
        self.configuration = configuration
        self.logger = logger
        self.handler = handler
        worker = AMQPWorker(
            label: "user-rabbitmq.consumer", url: configuration.url,
            heartbeat: Int(configuration.heartbeat.components.seconds), timeout: configuration.timeout,
            backoff: configuration.reconnectBackoff)
        health = RabbitMQHealth(role: "consumer", url: configuration.url, logger: logger)
    }

    /// Creates a consumer whose handler gets each event's envelope.
    public convenience init(
        configuration: Configuration, logger: Logger,
        handler: @escaping @Sendable (UserEventEnvelope) async throws -> Void
    ) {
        self.init(configuration: configuration, logger: logger) { (delivery: RabbitMQDelivery) in
            try await handler(delivery.envelope)
        }
    }

    /// The connection's state now.
    public var status: RabbitMQConnectionStatus { health.status }

    /// Consumes until the task is cancelled or a graceful shutdown begins (the message in hand is finished
    /// first), then closes the connection: unacknowledged messages go back to the queue.
    public func run() async throws {
        health.starting()
        var handlerFailures = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let incoming: AMQPIncoming?
            do {
                incoming = try await worker.perform(setUp: prepare) { [configuration] connection in
                    try connection.nextDelivery(timeout: configuration.pollInterval)
                }
                health.connected()
            } catch {
                health.failed(RabbitMQError.from(error))
                _ = try? await cancelWhenGracefulShutdown { [configuration] in
                    try await Task.sleep(for: configuration.reconnectBackoff.lowerBound)
                }
                continue
            }
            guard let incoming else { continue }
            guard let envelope = try? UserEventEnvelope(jsonData: incoming.body) else {
                logger.warning(
                    "rabbitmq consumer parked a message that is not a valid event",
                    metadata: [
                        "rabbitmq.queue": "\(configuration.queue)", "rabbitmq.parking": "\(configuration.parkingQueue)",
                        "rabbitmq.routing_key": "\(incoming.routingKey)",
                        "rabbitmq.message_id": "\(incoming.messageID ?? "-")",
                    ])
                await settle(incoming) { try $0.reject($1, requeue: false) }
                continue
            }
            let delivery = RabbitMQDelivery(
                envelope: envelope, routingKey: incoming.routingKey, exchange: incoming.exchange,
                messageID: incoming.messageID, contentType: incoming.contentType,
                deliveryMode: incoming.deliveryMode, headers: incoming.headers, redelivered: incoming.redelivered)
            do {
                try await handler(delivery)
                handlerFailures = 0
                await settle(incoming) { try $0.ack($1) }
            } catch {
                handlerFailures += 1
                let base = configuration.retryBackoff.lowerBound * (1 << min(handlerFailures - 1, 16))
                let delay = min(base, configuration.retryBackoff.upperBound) * Double.random(in: 0.5...1.0)
                logger.warning(
                    "rabbitmq consumer's handler failed; the message goes back to the queue",
                    metadata: [
                        "event.id": "\(envelope.eventID)", "user.id": "\(envelope.userID)",
                        "error": "\(error)", "retry.in": "\(delay)",
                    ])
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
                await settle(incoming) { try $0.reject($1, requeue: true) }
            }
        }
        await worker.close()
        health.stopped()
    }

    /// Acknowledges or rejects on the connection the message came on; when that connection is gone, the
    /// broker has put the message back already, and nothing is left to do.
    private func settle(
        _ incoming: AMQPIncoming, _ body: @escaping @Sendable (AMQPConnection, UInt64) throws -> Void
    ) async {
        do {
            try await worker.performIfConnected(generation: incoming.generation) {
                connection in try body(connection, incoming.deliveryTag)
            }
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
