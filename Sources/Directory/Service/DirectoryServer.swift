import Configuration
import Foundation
import Hummingbird
public import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import UnixSignals
import UserAppCore
import UserDomain
import UserInMemory
import UserPorts
import UserPostgres
import UserRabbitMQ
import UserRedis
import UserSQLite
import ServiceSupport

/// `users directory serve`: the directory as a second service. A `DirectoryFollower` keeps a replica in
/// the service's own database from the user events on RabbitMQ (after a backfill from the user service's
/// `GET /events`), and a read-only HTTP API (`DirectoryAPI`) serves it, until SIGINT or SIGTERM.
public enum DirectoryServer {
    /// Runs the follower, its broker consumer and the HTTP server until SIGINT or SIGTERM.
    ///
    /// "users directory serve listening" is logged once the socket is bound; the broker URL is logged
    /// redacted, the token never.
    ///
    /// - Throws: `ConfigurationError` for a bad broker URL, events URL, store or host (also a host beyond
    ///   loopback without API tokens); `UserStoreError` when the store can't be opened;
    ///   `ListenError` (ServiceSupport) when the address can't be bound.
    public static func run(configuration: DirectoryServiceConfiguration, logger: Logger) async throws {
        // swift-metrics reports to the Prometheus registry of `GET /metrics` from the first metric on.
        _ = ServiceMetrics.prometheus
        let url: RabbitMQURL
        do {
            url = try RabbitMQURL(configuration.source)
        } catch {
            throw ConfigurationError(key: "directory.source", "The broker URL (directory.source) is not valid: \(error).")
        }
        guard let events = URL(string: configuration.events), ["http", "https"].contains(events.scheme ?? ""),
            events.host != nil
        else {
            throw ConfigurationError(key: "directory.events", "The events URL (directory.events) must be http(s)://host[:port].")
        }
        let addresses = await ServiceSupport.BindAddress.resolve(configuration.host)
        guard let address = addresses.first else {
            throw ConfigurationError(key: "directory.host", "The host \(configuration.host) does not resolve.")
        }
        if configuration.apiTokens.isEmpty && !addresses.allSatisfy(\.isLoopback) {
            throw ConfigurationError(
                key: "directory.host",
                "Refusing to serve on \(configuration.host) without API tokens: it resolves beyond loopback. Set "
                    + "DIRECTORY_API_TOKENS (directory.apiTokens), or bind 127.0.0.1.")
        }
        let history = HTTPEventHistory(baseURL: events, token: configuration.eventsToken)
        let parts = Parts(
            configuration: configuration, url: url, history: history, address: address.numeric, logger: logger)
        if configuration.store.hasPrefix("redis://") || configuration.store.hasPrefix("rediss://") {
            let replica = try await RedisDirectoryReplica.open(url: configuration.store, logger: logger)
            try await parts.serve(replica, closing: { await replica.close() })
            return
        }
        let location: StoreLocation
        do {
            location = try StoreLocation(configuration.store)
        } catch {
            throw ConfigurationError(
                key: "directory.store",
                "The store (directory.store) must be sqlite:PATH, postgres://…, redis://… or memory:, not "
                    + "\(configuration.printableStore).")
        }
        switch location {
        case .memory:
            try await parts.serve(InMemoryDirectoryReplica())
        case .sqlite(let path):
            let replica = try await SQLiteDirectoryReplica.open(path: path)
            try await parts.serve(replica, closing: { await replica.close() })
        case .postgres(let url):
            let replica = try await PostgresDirectoryReplica.open(url: url, logger: logger)
            try await parts.serve(replica, closing: { await replica.close() })
        }
    }

    /// The pieces `serve` assembles, checked.
    private struct Parts {
        let configuration: DirectoryServiceConfiguration
        let url: RabbitMQURL
        let history: HTTPEventHistory
        let address: String
        let logger: Logger

        /// Serves `replica`, then closes it (`closing`), also when serving fails.
        func serve<Replica: DirectoryReplica>(_ replica: Replica, closing: @Sendable () async -> Void) async throws {
            do {
                try await serve(replica)
            } catch {
                await closing()
                throw error
            }
            await closing()
        }

        func serve<Replica: DirectoryReplica>(_ replica: Replica) async throws {
            let follower = FollowerBox<Replica>()
            let consumer = RabbitMQConsumer(
                configuration: .init(
                    url: url, topology: .init(exchange: configuration.exchange), queue: configuration.queue),
                logger: logger
            ) { (deliveries: [RabbitMQDelivery]) in
                // The deliveries that arrived together, applied in one replica transaction, acknowledged at once.
                // Their positions (the relay's header) move the position a Consistency-Token is compared with.
                try await follower.value.dispositions(
                    deliveries.map(\.envelope), positions: deliveries.map(\.position)
                ).map(RabbitMQConsumer.Verdict.init)
            }
            follower.value = DirectoryFollower(
                replica: replica, history: history, logger: logger,
                queueDeclared: {
                    // A refusal retrying can't fix, before the queue ever existed, is the configuration's: the
                    // service ends (exit 78) instead of retrying forever. Later ones are logged at error and shown
                    // by readiness.
                    while !consumer.status.isReady {
                        if let error = consumer.status.lastError, error.isPermanent {
                            throw ConfigurationError(
                                key: "directory.source", "\(error.message) Retrying won't help: check the broker URL.")
                        }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                })
            // A read with a user service's Consistency-Token waits for the deliveries up to it (or backfills).
            let queries = DirectoryQueries(
                replica: replica, progress: follower.value.progress, timeout: configuration.consistencyTimeout,
                behind: { [follower = follower.value] token in await follower.catchUp(to: token) })
            let registry = ServiceMetrics.prometheus
            let api = DirectoryAPI(
                directory: queries, metrics: { registry.emitToBuffer() },
                incomplete: { [follower = follower.value] in
                    follower.isBackfilled
                        ? nil
                        : "The directory is being built from the user service's history"
                            + (follower.backfillFailure.map { ": \($0)" } ?? ".")
                }
            ) { [follower = follower.value] in
                let status = consumer.status
                guard status.isReady else {
                    throw NotReady(
                        "The broker consumer is not connected (\(status))"
                            + (follower.isBackfilled ? "." : "; the backfill waits for its queue."))
                }
                guard follower.isBackfilled else {
                    throw NotReady(
                        "The backfill from the user service is not done"
                            + (follower.backfillFailure.map { ": \($0)" } ?? "."))
                }
                if let failure = follower.applyFailure {
                    throw NotReady("The directory's store refuses the events: \(failure)")
                }
            }
            let requested = "\(configuration.host):\(configuration.port)"
            let listening = Locked(false)
            let (logger, configuration, history) = (logger, configuration, history)
            let app = Application(
                router: api.makeRouter(tokens: configuration.apiTokens),
                server: .limitedHTTP1(configuration.connections, logger: logger),
                configuration: .init(
                    address: .hostname(address, port: configuration.port), serverName: "users-directory"),
                onServerRunning: { channel in
                    await HTTPConnectionLimits.pauseAcceptingWhenOutOfDescriptors(channel, logger: logger)
                    listening.withLock { $0 = true }
                    var bound = requested
                    if let local = channel.localAddress, let ip = local.ipAddress, let port = local.port {
                        bound = ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
                    }
                    logger.info(
                        "users directory serve listening",
                        metadata: [
                            "address": "\(bound)", "store": "\(configuration.printableStore)", "source": "\(url.redacted)",
                            "events": "\(history.redactedBaseURL)", "queue": "\(configuration.queue)",
                        ])
                },
                logger: logger)
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: consumer), .init(service: follower.value), .init(service: app)],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            do {
                try await group.run()
            } catch {
                if error is IOError, !listening.withLock({ $0 }) {
                    throw ListenError(address: requested, underlying: error)
                }
                throw error
            }
        }
    }

    private struct NotReady: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

/// The follower, set once before any service runs: the consumer's handler and the follower's queue check
/// refer to each other.
private final class FollowerBox<Replica: DirectoryReplica>: Sendable {
    private let storage = Locked<DirectoryFollower<Replica>?>(nil)

    var value: DirectoryFollower<Replica> {
        get {
            // Set in `serve` before the services start, and never again.
            storage.withLock { $0! }
        }
        set { storage.withLock { $0 = newValue } }
    }
}

extension RabbitMQConsumer.Verdict {
    /// The consumer's verdict for what the follower decided.
    package init(_ disposition: FollowerDisposition) {
        switch disposition {
        case .acknowledge: self = .acknowledge
        case .requeue: self = .requeue
        case .park: self = .park
        }
    }
}
