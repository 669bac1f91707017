public import Configuration
import Foundation
import Hummingbird
public import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
import UserAppCore
import UserDomain
public import UserHTTP
import UserInMemory
import UserPorts
import UserPostgres
import UserRabbitMQ
import UserSQLite

/// What `users directory serve` runs: the broker it follows, the user service it backfills from, its own
/// store and address.
public struct DirectoryServiceConfiguration: Sendable {
    /// The directory's API tokens, read exactly as `users serve` reads its own (`USERS_API_TOKENS`,
    /// `users.apiTokensFile`, a config file's list): a configured source without a valid token is a
    /// `ConfigurationError`, never "no authentication".
    public static func apiTokens(from reader: ConfigReader) throws -> [String] {
        try APITokens.read(reader)
    }

    /// The broker, `amqp://user:pass@host:5672/vhost` (or `amqps://`).
    public var source: String
    /// The user service's topic exchange.
    public var exchange: String
    /// The follower's own durable queue.
    public var queue: String
    /// The user service's base URL, whose `GET /events` the backfill reads.
    public var events: String
    /// A bearer token of the user service (from `USERS_EVENTS_TOKEN`, never a flag), or `nil`.
    public var eventsToken: String?
    /// The replica's store: `sqlite:PATH`, `postgres://…` (a database of its own) or `memory:`.
    public var store: String
    /// The address to bind.
    public var host: String
    /// The port to bind (0: any free one).
    public var port: Int
    /// Tokens a client of the directory must send; without any, only loopback addresses are served.
    public var apiTokens: [String]
    /// The HTTP connections' idle and request time limits and their bound, as `users serve` has them (a
    /// client that trickles its request head gets 408, an idle one is closed, connections past the bound wait).
    public var connections: HTTPConnectionLimits
    /// How long a directory read waits for the `Consistency-Token` it sends (a write's on the user service)
    /// before it answers 503 with `Retry-After`.
    public var consistencyTimeout: Duration

    /// Creates a configuration.
    public init(
        source: String, exchange: String = "users.events", queue: String = "users.directory", events: String,
        eventsToken: String? = nil, store: String = "sqlite:directory.sqlite", host: String = "127.0.0.1",
        port: Int = 8081, apiTokens: [String] = [], connections: HTTPConnectionLimits = .init(),
        consistencyTimeout: Duration = .seconds(5)
    ) {
        self.consistencyTimeout = consistencyTimeout
        self.source = source
        self.exchange = exchange
        self.queue = queue
        self.events = events
        self.eventsToken = eventsToken
        self.store = store
        self.host = host
        self.port = port
        self.apiTokens = apiTokens
        self.connections = connections
    }

    /// The store as it may be printed: `sqlite:PATH`, `memory:`, a PostgreSQL URL without its password, and
    /// anything else through the one redaction every printed URL goes through.
    var printableStore: String {
        (try? StoreLocation(store))?.description ?? URLRedaction.redact(store)
    }
}

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
    ///   ``UserServer/ListenError`` when the address can't be bound.
    public static func run(configuration: DirectoryServiceConfiguration, logger: Logger) async throws {
        let url: RabbitMQURL
        do {
            url = try RabbitMQURL(configuration.source)
        } catch {
            throw ConfigurationError(key: "directory.source", "The broker URL (--source) is not valid: \(error).")
        }
        guard let events = URL(string: configuration.events), ["http", "https"].contains(events.scheme ?? ""),
            events.host != nil
        else {
            throw ConfigurationError(key: "directory.events", "The events URL (--events) must be http(s)://host[:port].")
        }
        let addresses = await BindAddress.resolve(configuration.host)
        guard let address = addresses.first else {
            throw ConfigurationError(key: "directory.host", "The host \(configuration.host) does not resolve.")
        }
        if configuration.apiTokens.isEmpty && !addresses.allSatisfy(\.isLoopback) {
            throw ConfigurationError(
                key: "directory.host",
                "Refusing to serve on \(configuration.host) without API tokens: it resolves beyond loopback. Set "
                    + "USERS_API_TOKENS, or bind 127.0.0.1.")
        }
        let history = HTTPEventHistory(baseURL: events, token: configuration.eventsToken)
        let parts = Parts(
            configuration: configuration, url: url, history: history, address: address.numeric, logger: logger)
        let location: StoreLocation
        do {
            location = try StoreLocation(configuration.store)
        } catch {
            throw ConfigurationError(
                key: "directory.store",
                "The store (--store) must be sqlite:PATH, postgres://… or memory:, not \(configuration.printableStore).")
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
            let api = DirectoryAPI(directory: queries) { [follower = follower.value] in
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
                    throw UserServer.ListenError(address: requested, underlying: error)
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
