public import Logging
import Metrics
public import ServiceLifecycle
public import UserDomain
public import UserPorts

/// A `MessagePublisher` over RabbitMQ with publisher confirms: an event counts as published only once the
/// broker confirmed it (it is then on disk in every queue it was routed to).
///
/// Each event goes to the topology's durable topic exchange (``RabbitMQTopology``, default `users.events`)
/// with routing key = the event type (`user.registered`, …), `delivery_mode` 2 (persistent), `content_type`
/// `application/json`, `message_id` = the event id, `type` = the event type, `timestamp` = when it occurred,
/// headers `user-id` (string) and `user-version` (64-bit integer), and the envelope's JSON
/// (`UserEventEnvelope.jsonData()`) as body. A batch (``publish(_:notAfter:)``, what the outbox relay calls)
/// is sent at once and its confirms awaited together: one wait per batch. A nack or a return fails the events
/// concerned with a ``RabbitMQError``; the relay retries them and counts the attempt. When it can't connect at
/// all (the broker down, the login refused, ``run()`` not running), or the connection drops or goes silent
/// (no confirm within ``Configuration/timeout``) before the confirms came, the events are `unavailable`, which
/// the relay does not count as an attempt: an outage of any length, or a broker killed mid-batch, never parks
/// events as dead.
///
/// Run it as a swift-service-lifecycle `Service` before the relay: ``run()`` connects, keeps the connection's
/// heartbeats, reconnects with a jittered, doubling backoff after the connection dropped or the broker
/// restarted, and closes the connection when it returns. It never crashes on a broker failure, and every
/// rabbitmq-c call runs on the publisher's own dispatch queue, never on Swift's cooperative pool. Publishing
/// while ``run()`` is not running fails with ``RabbitMQError/Code/notRunning``.
///
/// ``status`` (connected / connecting / reconnecting / failing, with the last error) is for a readiness
/// check; the gauge `users_rabbitmq_publisher_state` records ``RabbitMQConnectionStatus/Phase/gaugeValue``,
/// counters `users_rabbitmq_confirmed_total` and `users_rabbitmq_publish_failed_total` count events. Log
/// lines name the broker by its redacted URL only.
public final class RabbitMQPublisher: MessagePublisher, Service {
    private let configuration: Configuration
    private let worker: AMQPWorker
    private let health: RabbitMQHealth
    private let running = Locked(false)
    private let logger: Logger
    private let confirmedCounter = Counter(label: "users_rabbitmq_confirmed_total")
    private let failedCounter = Counter(label: "users_rabbitmq_publish_failed_total")

    /// Creates a publisher; it connects when ``run()`` starts.
    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        worker = AMQPWorker(
            label: "user-rabbitmq.publisher", url: configuration.url,
            heartbeat: Int(configuration.heartbeat.components.seconds), timeout: configuration.timeout,
            backoff: configuration.reconnectBackoff)
        health = RabbitMQHealth(role: "publisher", url: configuration.url, logger: logger)
    }

    /// The connection's state now, for `/health/ready`.
    public var status: RabbitMQConnectionStatus { health.status }

    /// Connects and keeps the connection (heartbeats, reconnects) until the task is cancelled or a graceful
    /// shutdown begins; then closes it. Broker failures never end it.
    public func run() async throws {
        running.withLock { $0 = true }
        health.starting()
        defer {
            running.withLock { $0 = false }
        }
        let topology = configuration.topology
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let lost = try await worker.perform(setUp: { try Self.prepare($0, topology) }) {
                    $0.serviceHeartbeats()
                }
                if let lost { health.failed(lost) } else { health.connected() }
            } catch {
                health.failed(RabbitMQError.from(error))
            }
            _ = try? await cancelWhenGracefulShutdown { [configuration] in
                try await Task.sleep(for: configuration.maintenanceInterval)
            }
        }
        await worker.close()
        health.stopped()
    }

    /// Declares the topology and turns on confirms on a new connection.
    private static func prepare(_ connection: AMQPConnection, _ topology: RabbitMQTopology) throws(RabbitMQError) {
        try topology.declare(on: connection)
        try connection.selectConfirms()
    }

    /// Publishes one event and waits for its confirm.
    ///
    /// - Throws: ``RabbitMQError``: `notRunning`, `unreachable`, `accessRefused`, `unknownVirtualHost`,
    ///   `timeout`, `connectionLost`, `nacked`, `unroutable`, `protocolError`.
    public func publish(_ event: UserEventEnvelope) async throws {
        let outcome =
            await publish([AMQPOutgoing(event)], notAfter: .now + .seconds(86_400 * 365)).first
            ?? .notAttempted
        switch outcome {
        case .confirmed: return
        case .failed(let error): throw error
        case .notAttempted: throw CancellationError()
        case .unavailable(let error): throw error
        }
    }

    /// Publishes the batch at once and awaits its confirms together (see `MessagePublisher/publish(_:notAfter:)`).
    /// Nothing is sent when `deadline` has passed or the task is cancelled; otherwise the whole batch is sent,
    /// so a failed event's later events of the same user may have been confirmed too (the relay holds them
    /// all the same).
    /// Each message carries the event's position in the `event-position` header.
    public func publish(_ events: [OutboxEvent], notAfter deadline: ContinuousClock.Instant) async
        -> [PublishOutcome]
    {
        // Encoding happens here, on the caller's thread; the queue only sends and waits.
        await publish(events.map { AMQPOutgoing($0.envelope, position: $0.position) }, notAfter: deadline)
    }

    /// Sends encoded messages and awaits their confirms (``publish(_:notAfter:)``'s work).
    private func publish(_ messages: [AMQPOutgoing], notAfter deadline: ContinuousClock.Instant) async
        -> [PublishOutcome]
    {
        guard !messages.isEmpty else { return [] }
        guard running.withLock({ $0 }) else {
            let error = RabbitMQError(
                .notRunning, "The RabbitMQ publisher for \(configuration.url.redacted) is not running.")
            return [PublishOutcome](repeating: .unavailable(error), count: messages.count)
        }
        if Task.isCancelled || ContinuousClock.now >= deadline {
            return [PublishOutcome](repeating: .notAttempted, count: messages.count)
        }
        let exchange = configuration.topology.exchange
        let topology = configuration.topology
        let timeout = configuration.timeout
        let outcomes: [PublishOutcome]
        do {
            outcomes = try await worker.perform(setUp: { try Self.prepare($0, topology) }) {
                $0.publishConfirmed(messages, exchange: exchange, timeout: timeout)
            }
        } catch {
            // Connecting (or setting the connection up) failed: nothing was sent.
            health.failed(RabbitMQError.from(error))
            return [PublishOutcome](repeating: .unavailable(RabbitMQError.from(error)), count: messages.count)
        }
        var confirmed = 0
        var connectionError: RabbitMQError?
        // A connection that dropped or went silent before the confirms came says nothing about the events:
        // they are `unavailable` (the relay republishes them without counting an attempt, and backs off as a
        // whole), so a broker killed mid-batch, however often, parks nothing as dead. A nack or a return is
        // about the event: it stays `failed`.
        let reported = outcomes.map { outcome -> PublishOutcome in
            switch outcome {
            case .confirmed:
                confirmed += 1
                return outcome
            case .failed(let error as RabbitMQError) where [.connectionLost, .timeout].contains(error.code):
                connectionError = error
                return .unavailable(error)
            default:
                return outcome
            }
        }
        confirmedCounter.increment(by: Int64(confirmed))
        if confirmed < outcomes.count { failedCounter.increment(by: Int64(outcomes.count - confirmed)) }
        if let connectionError { health.failed(connectionError) } else { health.connected() }
        return reported
    }
}
