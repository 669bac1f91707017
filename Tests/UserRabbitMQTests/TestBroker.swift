import Foundation
import Logging
import Testing
import UserDomain
import UserPorts
import UserPortsTesting
@testable import UserRabbitMQ

/// The RabbitMQ node the tests run against: started by `scripts/test.sh` (see
/// `scripts/rabbitmq-test-server.sh`), or a developer's own, named by `USERS_TEST_AMQP_URL` (and, for the
/// tests that kill and restart it, `USERS_TEST_AMQP_DIR` and `USERS_TEST_AMQP_CTL`). Unset: the tests fail,
/// they never skip.
enum TestBroker {
    struct NotConfigured: Error, CustomStringConvertible {
        let variable: String
        var description: String {
            "\(variable) is not set: run the tests with scripts/test.sh, which starts a throwaway RabbitMQ, or "
                + "eval \"$(scripts/rabbitmq-test-server.sh start)\" first."
        }
    }

    static func environment(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw NotConfigured(variable: name)
        }
        return value
    }

    static var urlString: String { get throws { try environment("USERS_TEST_AMQP_URL") } }
    static var url: RabbitMQURL { get throws { try RabbitMQURL(try urlString) } }

    /// Names no other test uses: every test declares its own exchange and queues.
    static func unique(_ prefix: String) -> String {
        "t.\(prefix).\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Short timeouts and backoffs: tests wait on conditions, and a broker that is down should be retried soon.
    static func publisherConfiguration(
        _ url: RabbitMQURL, topology: RabbitMQTopology, timeout: Duration = .seconds(10)
    ) -> RabbitMQPublisher.Configuration {
        .init(
            url: url, topology: topology, heartbeat: .seconds(5), timeout: timeout,
            reconnectBackoff: .milliseconds(50)...(.milliseconds(500)), maintenanceInterval: .milliseconds(100))
    }

    static func consumerConfiguration(
        _ url: RabbitMQURL, topology: RabbitMQTopology, queue: String, queueType: RabbitMQConsumer.QueueType = .classic,
        prefetch: Int = 100, drainsUnrouted: Bool = false
    ) -> RabbitMQConsumer.Configuration {
        .init(
            url: url, topology: topology, queue: queue, queueType: queueType, prefetch: prefetch,
            drainsUnrouted: drainsUnrouted, heartbeat: .seconds(5),
            reconnectBackoff: .milliseconds(50)...(.milliseconds(500)),
            retryBackoff: .milliseconds(10)...(.milliseconds(200)), pollInterval: .milliseconds(100))
    }

    /// Runs `body` with a connection of its own on a queue of its own (never on the cooperative pool).
    static func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (AMQPConnection) throws -> T
    ) async throws -> T {
        let worker = AMQPWorker(
            label: "test", url: try url, heartbeat: 0, timeout: .seconds(30),
            backoff: .milliseconds(10)...(.milliseconds(10)))
        defer { Task { await worker.close() } }
        return try await worker.perform(setUp: { _ in }, body)
    }

    /// Runs the ctl script (`kill` or `restart`) on the test node; waits for it without blocking a thread of
    /// the cooperative pool.
    static func control(_ command: String) async throws {
        let ctl = try environment("USERS_TEST_AMQP_CTL")
        let dir = try environment("USERS_TEST_AMQP_DIR")
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: ctl)
        process.arguments = [command, dir]
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        try #require(status == 0, "rabbitmq-test-server.sh \(command) failed")
    }
}

/// Runs a `Service` in a task and cancels it (and waits for it) after `body`, also when `body` throws.
func withRunning<S: Sendable, T>(
    _ services: [S], run: @escaping @Sendable (S) async throws -> Void, _ body: () async throws -> T
) async throws -> T {
    let tasks = services.map { service in Task { try await run(service) } }
    defer { for task in tasks { task.cancel() } }
    let result: T
    do {
        result = try await body()
    } catch {
        for task in tasks { task.cancel(); _ = try? await task.value }
        throw error
    }
    for task in tasks { task.cancel(); _ = try? await task.value }
    return result
}

/// Collects what a consumer handed to its handler.
actor DeliveryCollector {
    private(set) var deliveries: [RabbitMQDelivery] = []

    func add(_ delivery: RabbitMQDelivery) { deliveries.append(delivery) }

    /// Collects a batch, every delivery acknowledged: a batch handler.
    func add(_ batch: [RabbitMQDelivery]) -> [RabbitMQConsumer.Verdict] {
        deliveries += batch
        return batch.map { _ in .acknowledge }
    }

    var envelopes: [UserEventEnvelope] { deliveries.map(\.envelope) }

    nonisolated func waitFor(count: Int) async throws -> Bool {
        try await Patience.waitUntil { await self.deliveries.count >= count }
    }
}

extension Array where Element == UserEventEnvelope {
    /// The events as an outbox would hand them to the relay: positions 1, 2, 3, … in order.
    var inOutbox: [OutboxEvent] {
        enumerated().map { OutboxEvent(position: EventPosition(rawValue: Int64($0.offset + 1)), envelope: $0.element) }
    }
}
