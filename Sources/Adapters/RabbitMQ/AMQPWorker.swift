import Foundation
import Logging
import UserAdapterSupport
import UserPorts

/// Owns one ``AMQPConnection`` on a serial dispatch queue of its own: every blocking rabbitmq-c call runs
/// there, never on Swift's cooperative pool. Callers `await` it. It connects on demand, and after a failed
/// connect waits a jittered, doubling backoff before the next attempt (callers fail fast meanwhile).
actor AMQPWorker {
    private let executor: QueueExecutor
    private var connection: AMQPConnection?
    private var failures = 0
    private var retryAfter: ContinuousClock.Instant?
    private var lastError: RabbitMQError?
    private var generations: UInt64 = 0
    let url: RabbitMQURL
    let heartbeat: Int
    let timeout: Duration
    let initialBackoff: Duration
    let maximumBackoff: Duration

    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    init(label: String, url: RabbitMQURL, heartbeat: Int, timeout: Duration, backoff: ClosedRange<Duration>) {
        executor = QueueExecutor(label: label)
        self.url = url
        self.heartbeat = heartbeat
        self.timeout = timeout
        initialBackoff = backoff.lowerBound
        maximumBackoff = backoff.upperBound
    }

    /// The connection, connecting (and running `setUp` on a new one) unless the backoff after a failure runs.
    ///
    /// - Returns: the connection and whether it is new.
    private func connected(_ setUp: (AMQPConnection) throws -> Void) throws(RabbitMQError) -> AMQPConnection {
        if let connection, connection.isOpen { return connection }
        connection = nil
        if let retryAfter, ContinuousClock.now < retryAfter, let lastError { throw lastError }
        do {
            let fresh = try AMQPConnection(url: url, heartbeat: heartbeat, timeout: timeout)
            generations += 1
            fresh.generation = generations
            try setUp(fresh)
            connection = fresh
            failures = 0
            retryAfter = nil
            lastError = nil
            return fresh
        } catch {
            let error = RabbitMQError.from(error)
            failures += 1
            let base = initialBackoff * (1 << min(failures - 1, 16))
            retryAfter = .now + min(base, maximumBackoff) * Double.random(in: 0.5...1.0)
            lastError = error
            throw error
        }
    }

    /// Runs `body` with the (re)connected connection on the worker's queue; a new connection is first
    /// prepared by `setUp` (declarations, confirm mode, consume). A failure that leaves the connection
    /// unusable drops it: the next call reconnects.
    func perform<T: Sendable>(
        setUp: (AMQPConnection) throws -> Void, _ body: (AMQPConnection) throws -> T
    ) throws(RabbitMQError) -> T {
        let connection = try connected(setUp)
        defer { if !connection.isOpen { self.connection = nil } }
        do {
            return try body(connection)
        } catch {
            throw RabbitMQError.from(error)
        }
    }

    /// Runs `body` with the connection of `generation` when it is still the current one; does nothing otherwise (no reconnect: an
    /// acknowledgement belongs to the connection its message came on).
    func performIfConnected(
        generation: UInt64, _ body: (AMQPConnection) throws -> Void
    ) throws(RabbitMQError) {
        guard let connection, connection.isOpen, connection.generation == generation else { return }
        defer { if !connection.isOpen { self.connection = nil } }
        do {
            try body(connection)
        } catch {
            throw RabbitMQError.from(error)
        }
    }

    /// Whether a connection is open now.
    var isConnected: Bool { connection?.isOpen ?? false }

    /// Serves heartbeats and notices a lost connection; returns the error when it was lost.
    func serviceHeartbeats() -> RabbitMQError? {
        guard let connection else { return nil }
        let error = connection.serviceHeartbeats()
        if !connection.isOpen { self.connection = nil }
        return error
    }

    /// Closes the connection (a consumer's unacknowledged messages go back to their queue).
    func close() {
        connection?.close()
        connection = nil
    }
}
