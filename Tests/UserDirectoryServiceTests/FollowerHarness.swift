import Foundation
import Hummingbird
import Logging
import Testing
import UserDirectoryService
import UserAppCore
import UserDomain
import UserHTTP
import UserInMemory
import UserPorts
import UserPortsTesting
import ServiceLifecycle
import UserRabbitMQ

/// The test broker (see scripts/rabbitmq-test-server.sh); unset: the tests fail, never skip.
enum FollowerBroker {
    static var url: String {
        get throws {
            guard let value = ProcessInfo.processInfo.environment["USERS_TEST_AMQP_URL"], !value.isEmpty else {
                throw NotConfigured()
            }
            return value
        }
    }

    struct NotConfigured: Error, CustomStringConvertible {
        var description: String { "USERS_TEST_AMQP_URL is not set: eval \"$(scripts/rabbitmq-test-server.sh start)\"." }
    }

    static func unique(_ prefix: String) -> String { "t.\(prefix).\(UUID().uuidString.prefix(8).lowercased())" }
}

/// A user service in this process: an in-memory store, its use cases, `GET /events` over HTTP (the
/// documented JSON), and a publisher that the test drives by hand, so that it chooses what the broker sees.
final class SourceService: Sendable {
    let store = InMemoryUserStore()
    let users: UserUseCases<InMemoryUserStore>
    let publisher: RabbitMQPublisher
    let exchange: String
    private let port = Locked<Int?>(nil)
    private let token: String?

    init(exchange: String, token: String? = nil) throws {
        self.exchange = exchange
        self.token = token
        users = UserUseCases(repository: store)
        publisher = RabbitMQPublisher(
            configuration: .init(
                url: try RabbitMQURL(try FollowerBroker.url), topology: .init(exchange: exchange),
                heartbeat: .seconds(5), reconnectBackoff: .milliseconds(50)...(.milliseconds(500)),
                maintenanceInterval: .milliseconds(100)),
            logger: Logger(label: "test.publisher"))
    }

    var baseURL: URL { URL(string: "http://127.0.0.1:\(port.withLock { $0 } ?? 0)")! }

    /// The user service's own `GET /events` (UserAPI's route, its token check included).
    func application() -> some ApplicationProtocol {
        let api = UserAPI(service: users, readiness: {}).servingEvents(from: store)
        return Application(
            router: api.makeRouter(tokens: token.map { [$0] } ?? []),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { [port] channel in port.withLock { $0 = channel.localAddress?.port } },
            logger: Logger(label: "test.source"))
    }

    func waitUntilServing() async throws -> Bool {
        try await Patience.waitUntil { self.port.withLock { $0 } != nil }
    }

    /// Every event of the log, in position order.
    func allEvents() async throws -> [UserEventEnvelope] {
        try await store.events(after: nil, limit: 100_000).map(\.envelope)
    }

    /// Publishes events (confirmed by the broker).
    /// Publishes each event, confirmed, retrying one that fails as the relay would (a connection that drops
    /// under load reconnects; the publish is then repeated): the tests are about the consumer's side.
    func publish(_ events: [UserEventEnvelope]) async throws {
        for event in events {
            var attempt = 0
            while true {
                do {
                    try await publisher.publish(event)
                    break
                } catch {
                    attempt += 1
                    if attempt >= 20 { throw error }
                    _ = try await Patience.waitUntil(pollingEvery: .milliseconds(20)) { self.publisher.status.isReady }
                }
            }
        }
    }

    /// Publishes events of the log as the relay does, each message with its position, in a batch; a batch the
    /// broker did not confirm whole (a connection lost under load: other suites restart the broker) is published
    /// again once the publisher reconnected, as the relay would: the follower drops what it already applied.
    func publishAsTheRelay(_ events: [OutboxEvent]) async throws {
        var attempt = 0
        while true {
            let outcomes = await publisher.publish(events, notAfter: .now + .seconds(60))
            if outcomes.allSatisfy({ $0.isConfirmed }) { return }
            attempt += 1
            let confirmed = false
            if attempt >= 20 { try #require(confirmed, "\(outcomes)") }
            _ = try await Patience.waitUntil(pollingEvery: .milliseconds(20)) { self.publisher.status.isReady }
        }
    }

    /// The directory as the source sees it: (id, e-mail, name, status, version) of every user.
    func directory() async throws -> [String] {
        try await store.page(after: nil, limit: 1000).users.map {
            Self.line($0.id, $0.email.value, $0.displayName.value, $0.status, $0.version)
        }.sorted()
    }

    static func line(_ id: UserID, _ email: String, _ name: String, _ status: UserStatus, _ version: Int) -> String {
        "\(id) \(email) \(name) \(status.rawValue) v\(version)"
    }
}

/// A replica that counts, per event id, how often an event was applied.
final class CountingReplica<Base: DirectoryReplica>: DirectoryReplica {
    let base: Base
    let applications = Locked<[UUID: Int]>([:])
    /// Per event id, how often an apply found it behind a gap.
    let gaps = Locked<[UUID: Int]>([:])

    init(_ base: Base) { self.base = base }

    func apply(_ events: [UserEventEnvelope], reaching position: EventPosition?) async throws -> [ReplicaOutcome] {
        let outcomes = try await base.apply(events, reaching: position)
        applications.withLock { counts in
            for (event, outcome) in zip(events, outcomes) where outcome == .applied {
                counts[event.eventID, default: 0] += 1
            }
        }
        gaps.withLock { counts in
            for (event, outcome) in zip(events, outcomes) {
                if case .gap = outcome { counts[event.eventID, default: 0] += 1 }
            }
        }
        return outcomes
    }

    /// How often the replica was reset (a rebuild).
    let resets = Locked(0)

    func reset() async throws {
        try await base.reset()
        resets.withLock { $0 += 1 }
    }

    func backfillPosition() async throws -> EventPosition? { try await base.backfillPosition() }
    func appliedVersion(of user: UserID) async throws -> Int? { try await base.appliedVersion(of: user) }
    func search(prefix: String, limit: Int) async throws -> [DirectoryEntry] {
        try await base.search(prefix: prefix, limit: limit)
    }
    func statistics() async throws -> DirectoryStatistics { try await base.statistics() }

    /// The directory as the replica holds it, in `SourceService.directory()`'s form.
    func directory() async throws -> [String] {
        try await base.search(prefix: "", limit: 100_000).map {
            SourceService.line($0.id, $0.email, $0.displayName, $0.status, $0.version)
        }.sorted()
    }
}

/// A follower fed by a consumer of its own queue.
struct RunningFollower<Replica: DirectoryReplica> {
    let follower: DirectoryFollower<Replica>
    let consumer: RabbitMQConsumer

    init(
        replica: Replica, source: SourceService, queue: String, token: String? = nil, gapSightings: Int = 20,
        gapAge: Duration = .seconds(60), logger: Logger
    ) throws {
        let box = Locked<DirectoryFollower<Replica>?>(nil)
        let consumer = RabbitMQConsumer(
            configuration: .init(
                url: try RabbitMQURL(try FollowerBroker.url), topology: .init(exchange: source.exchange), queue: queue,
                heartbeat: .seconds(5), reconnectBackoff: .milliseconds(50)...(.milliseconds(500)),
                retryBackoff: .milliseconds(10)...(.milliseconds(200)), pollInterval: .milliseconds(100)),
            logger: logger
        ) { (deliveries: [RabbitMQDelivery]) in
            // As `users directory serve` wires it: a batch in one replica transaction; a lasting gap goes back,
            // one that outlasted the bound is parked.
            try await box.withLock { $0! }.dispositions(
                deliveries.map(\.envelope), positions: deliveries.map(\.position)
            ).map(RabbitMQConsumer.Verdict.init)
        }
        let follower = DirectoryFollower(
            replica: replica, history: HTTPEventHistory(baseURL: source.baseURL, token: token), pageSize: 7,
            retryBackoff: .milliseconds(20)...(.milliseconds(200)), gapSightings: gapSightings, gapAge: gapAge,
            logger: logger,
            queueDeclared: { while !consumer.status.isReady { try await Task.sleep(for: .milliseconds(10)) } })
        box.withLock { $0 = follower }
        self.follower = follower
        self.consumer = consumer
    }

    /// Runs the consumer and the follower around `body`, then cancels both and waits for them.
    func whileRunning<T>(_ body: () async throws -> T) async throws -> T {
        let tasks = [Task { try await consumer.run() }, Task { try await follower.run() }]
        do {
            let result = try await body()
            for task in tasks { task.cancel(); _ = try? await task.value }
            return result
        } catch {
            for task in tasks { task.cancel(); _ = try? await task.value }
            throw error
        }
    }
}

/// Runs a service in a task around `body`.
func withService<T>(_ service: some Service, _ body: () async throws -> T) async throws -> T {
    let task = Task { try await service.run() }
    do {
        let result = try await body()
        task.cancel()
        _ = try? await task.value
        return result
    } catch {
        task.cancel()
        _ = try? await task.value
        throw error
    }
}
