public import Configuration
import Foundation
import UserAppCore
import UserPorts
public import ServiceSupport

/// What `users directory serve` runs: the broker it follows, the user service it backfills from, its own
/// store, address and HTTP limits.
///
/// Read from a `ConfigReader` (``init(reader:)``) whose providers come in this order, as `users serve`'s:
/// command-line options, environment variables, an optional JSON or YAML file (`--config`), defaults. Keys
/// (environment variable in brackets):
///
/// | key | default | |
/// |---|---|---|
/// | `directory.source` (`DIRECTORY_SOURCE`) | (required) | the broker, `amqp://user:pass@host:5672/vhost` or `amqps://…`; a secret, printed redacted |
/// | `directory.exchange` (`DIRECTORY_EXCHANGE`) | `users.events` | the user service's topic exchange |
/// | `directory.queue` (`DIRECTORY_QUEUE`) | `users.directory` | the directory's own durable queue (poison messages go to `<queue>.parked`) |
/// | `directory.events` (`DIRECTORY_EVENTS`) | (required) | the user service's base URL, whose `GET /events` the backfill reads |
/// | `directory.eventsToken` (`DIRECTORY_EVENTS_TOKEN`) | none | a bearer token of the user service; a secret, never a flag; trimmed |
/// | `directory.store` (`DIRECTORY_STORE`) | `sqlite:directory.sqlite` | `sqlite:PATH`, `postgres://…` (a database of its own), `redis://…` (`?prefix=` names its keys) or `memory:`; a secret |
/// | `directory.host` (`DIRECTORY_HOST`) | `127.0.0.1` | the address to bind |
/// | `directory.port` (`DIRECTORY_PORT`) | `8081` | the port to bind (0: any free one) |
/// | `directory.http.idleTimeoutMs` (`DIRECTORY_HTTP_IDLE_TIMEOUT_MS`) | `75000` | a connection waiting for a request is closed after this |
/// | `directory.http.requestHeadTimeoutMs` (`DIRECTORY_HTTP_REQUEST_HEAD_TIMEOUT_MS`) | `10000` | a request head must arrive within this from its first byte (408 and close) |
/// | `directory.http.requestBodyTimeoutMs` (`DIRECTORY_HTTP_REQUEST_BODY_TIMEOUT_MS`) | `30000` | a request body must arrive within this from its head (408 and close) |
/// | `directory.http.maxConnections` (`DIRECTORY_HTTP_MAX_CONNECTIONS`) | `1024` | open connections at most |
/// | `directory.consistencyTimeoutMs` (`DIRECTORY_CONSISTENCY_TIMEOUT_MS`) | `5000` | how long a read waits for the `Consistency-Token` it sends (then 503) |
/// | `directory.apiTokens` (`DIRECTORY_API_TOKENS`) | none | comma-separated bearer tokens its clients must send; never a flag; without any, loopback only |
/// | `directory.apiTokensFile` (`DIRECTORY_API_TOKENS_FILE`) | none | a file of tokens, one a line |
public struct DirectoryServiceConfiguration: Sendable {
    /// The broker, `amqp://user:pass@host:5672/vhost` (or `amqps://`).
    public var source: String
    /// The user service's topic exchange.
    public var exchange: String
    /// The follower's own durable queue.
    public var queue: String
    /// The user service's base URL, whose `GET /events` the backfill reads.
    public var events: String
    /// A bearer token of the user service (`directory.eventsToken`, `DIRECTORY_EVENTS_TOKEN`: never a flag), or `nil`.
    public var eventsToken: String?
    /// The replica's store: `sqlite:PATH`, `postgres://…` (a database of its own), `redis://…` or `memory:`.
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

    /// Reads the configuration.
    ///
    /// - Throws: `ConfigurationError` naming the key, for a missing broker or events URL, a store URL it can't
    ///   use, a value of the wrong kind or out of range, or API tokens it can't read: a bad value is never
    ///   silently replaced by the default.
    public init(reader: ConfigReader) throws {
        guard let source = try ConfigValues.string(reader, "directory.source", isSecret: true), !source.isEmpty else {
            throw ConfigurationError(
                key: "directory.source", "Name the broker with --source or DIRECTORY_SOURCE (directory.source).")
        }
        guard let events = try ConfigValues.string(reader, "directory.events"), !events.isEmpty else {
            throw ConfigurationError(
                key: "directory.events",
                "Name the user service's base URL with --events or DIRECTORY_EVENTS (directory.events).")
        }
        let token = try ConfigValues.string(reader, "directory.eventsToken", isSecret: true)?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let store = try ConfigValues.string(reader, "directory.store", isSecret: true) ?? "sqlite:directory.sqlite"
        self.init(
            source: source, exchange: try ConfigValues.string(reader, "directory.exchange") ?? "users.events",
            queue: try ConfigValues.string(reader, "directory.queue") ?? "users.directory", events: events,
            eventsToken: token?.isEmpty == false ? token : nil, store: store,
            host: try ConfigValues.string(reader, "directory.host") ?? "127.0.0.1",
            port: try ConfigValues.int(reader, "directory.port", default: 8081, in: 0...65535),
            apiTokens: try APITokens.read(reader, prefix: "directory"),
            connections: try HTTPConnectionLimits(reader, prefix: "directory"),
            consistencyTimeout: .milliseconds(
                try ConfigValues.int(reader, "directory.consistencyTimeoutMs", default: 5000, in: 0...60_000)))
    }

    /// The store as it may be printed: `sqlite:PATH`, `memory:`, a PostgreSQL URL without its password, and
    /// anything else through the one redaction every printed URL goes through.
    var printableStore: String {
        (try? StoreLocation(store))?.description
            ?? URLRedaction.redact(store, visibleParameters: store.hasPrefix("redis") ? ["prefix", "timeoutMs"] : [])
    }
}
