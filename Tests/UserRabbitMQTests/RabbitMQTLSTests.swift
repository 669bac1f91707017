import Foundation
import Logging
import Testing
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting
@testable import UserRabbitMQ

extension RabbitMQTests {
    /// The test node's TLS listener (scripts/rabbitmq-test-server.sh): its certificate names `localhost`
    /// only and is signed by the node's own CA, given in the URL's `cacertfile`.
    static var tlsURL: String { get throws { try TestBroker.environment("USERS_TEST_AMQP_TLS_URL") } }

    /// Connects to `url` once, on a queue of its own; the error when it can't.
    func connectionError(_ url: RabbitMQURL) async -> RabbitMQError? {
        let worker = AMQPWorker(
            label: "test.tls", url: url, heartbeat: 0, timeout: .seconds(10), backoff: .milliseconds(10)...(.milliseconds(10)))
        defer { Task { await worker.close() } }
        do {
            try await worker.perform(setUp: { _ in }, { _ in })
            return nil
        } catch {
            return error
        }
    }

    @Test("amqps://: events are published and consumed over TLS, the broker's certificate checked against cacertfile")
    func tls() async throws {
        let url = try RabbitMQURL(try Self.tlsURL)
        #expect(url.usesTLS)
        let topology = RabbitMQTopology(exchange: TestBroker.unique("events"))
        let (_, history) = try await events(users: 3, each: 3)
        let collector = DeliveryCollector()
        let consumer = RabbitMQConsumer(
            configuration: TestBroker.consumerConfiguration(url, topology: topology, queue: TestBroker.unique("q")),
            logger: logger
        ) { (batch: [RabbitMQDelivery]) in await collector.add(batch) }
        try await withRunning([consumer], run: { try await $0.run() }) {
            try #require(try await Patience.waitUntil { consumer.status.isReady }, "the consumer never connected over TLS")
            try await publishAll(history, url: url, topology: topology)
            try #require(try await collector.waitFor(count: history.count))
        }
        #expect(await collector.envelopes == history)
    }

    @Test("amqps:// refuses a broker it can't verify: an unknown CA, another host name, a missing CA file")
    func tlsRefusals() async throws {
        let text = try Self.tlsURL
        let password = "amqp-secret-pw"
        let base = String(text[..<text.firstIndex(of: "?")!])
        // Without cacertfile: the system's CA store does not know the node's CA.
        let unknownCA = await connectionError(try RabbitMQURL(base))
        // By address: the certificate names localhost only.
        let otherName = await connectionError(try RabbitMQURL(text.replacingOccurrences(of: "@localhost:", with: "@127.0.0.1:")))
        for error in [unknownCA, otherName] {
            let error = try #require(error, "a broker that can't be verified was accepted")
            #expect(error.code == .certificateRefused && error.isPermanent, "\(error.debugDescription)")
            #expect(error.description.localizedCaseInsensitiveContains("ssl"), "\(error.debugDescription)")
            #expect(!error.description.contains(password))
        }
        let missing = await connectionError(
            try RabbitMQURL(base + "?cacertfile=/nonexistent/ca.pem"))
        #expect(missing?.code == .invalidURL)
        #expect(missing.map { !$0.description.contains(password) } ?? false)
        // The plain port does not speak TLS: a handshake failure, not a hang.
        let port = try TestBroker.environment("USERS_TEST_AMQP_PORT")
        let plain = base.replacingOccurrences(
            of: #"localhost:\d+"#, with: "localhost:\(port)", options: .regularExpression)
        let notTLS = await connectionError(try RabbitMQURL(plain + "?cacertfile=" + text.components(separatedBy: "cacertfile=")[1]))
        #expect(notTLS?.code == .unreachable || notTLS?.code == .timeout, "\(notTLS.map(\.debugDescription) ?? "connected")")
    }
}
