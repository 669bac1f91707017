public import Configuration
import Foundation
import SystemPackage
public import UserAppCore
public import UserHTTP
public import UserPorts
public import ServiceSupport

/// Everything `users serve` and the embedding API read from configuration.
///
/// Read with one `ConfigReader` whose providers come in this order: command-line options, environment
/// variables, an optional JSON or YAML file, defaults (see ``reader(arguments:environment:file:)``). Keys
/// (environment variable in brackets):
///
/// | key | default | |
/// |---|---|---|
/// | `users.store` (`USERS_STORE`) | `sqlite:users.sqlite` | `memory:`, `sqlite:PATH`, `postgres://…` |
/// | `users.publisher` (`USERS_PUBLISHER`) | `none` | `memory` (an in-process bus), `log` (JSON lines on stdout), `log:PATH`, `none` (events stay in the outbox), `amqp://user:pass@host:5672/vhost` or `amqps://…` (RabbitMQ, with publisher confirms; read as a secret, printed redacted) |
/// | `users.amqp.exchange` (`USERS_AMQP_EXCHANGE`) | `users.events` | the durable topic exchange a broker publisher publishes to (routing key: the event type) |
/// | `users.host` (`USERS_HOST`) | `127.0.0.1` | the address `serve` binds |
/// | `users.port` (`USERS_PORT`) | `8080` | the port `serve` binds |
/// | `users.http.maxBodySize` (`USERS_HTTP_MAX_BODY_SIZE`) | `65536` | bytes; 413 above |
/// | `users.http.requireIfMatch` (`USERS_HTTP_REQUIRE_IF_MATCH`) | `false` | 428 for PATCH/DELETE without If-Match |
/// | `users.http.idempotencyKeys` (`USERS_HTTP_IDEMPOTENCY_KEYS`) | `10000` | `Idempotency-Key`s remembered at most |
/// | `users.http.idempotencyBytes` (`USERS_HTTP_IDEMPOTENCY_BYTES`) | `16777216` | bytes of remembered responses at most |
/// | `users.http.idleTimeoutMs` (`USERS_HTTP_IDLE_TIMEOUT_MS`) | `75000` | a connection waiting for a request (before its first byte, between requests) is closed after this |
/// | `users.http.requestHeadTimeoutMs` (`USERS_HTTP_REQUEST_HEAD_TIMEOUT_MS`) | `10000` | a request head must arrive within this from its first byte (408 and close) |
/// | `users.http.requestBodyTimeoutMs` (`USERS_HTTP_REQUEST_BODY_TIMEOUT_MS`) | `30000` | a request body must arrive within this from its head (408 and close) |
/// | `users.http.maxConnections` (`USERS_HTTP_MAX_CONNECTIONS`) | `1024` | open connections at most (lowered to the open-file limit minus 128); at the bound a new connection closes the longest-idle one |
/// | `users.relay.batchSize` (`USERS_RELAY_BATCH_SIZE`) | `100` | events per relay batch |
/// | `users.relay.maxAttempts` (`USERS_RELAY_MAX_ATTEMPTS`) | `10` | failed attempts before an event is parked as dead |
/// | `users.events.retentionDays` (`USERS_EVENTS_RETENTION_DAYS`) | none | delete published events older than this; kept forever by default |
/// | `users.directory.consistencyTimeoutMs` (`USERS_DIRECTORY_CONSISTENCY_TIMEOUT_MS`) | `5000` | how long a directory read waits for its consistency token |
/// | `users.postgres.maxConnections` (`USERS_POSTGRES_MAX_CONNECTIONS`) | `10` | pool size |
/// | `users.postgres.lookupConnections` (`USERS_POSTGRES_LOOKUP_CONNECTIONS`) | `2` | pipelined connections for point lookups; `0` sends them through the pool |
/// | `users.sqlite.synchronous` (`USERS_SQLITE_SYNCHRONOUS`) | `normal` | `normal` or `full` |
/// | `users.sqlite.tuneProcess` (`USERS_SQLITE_TUNE_PROCESS`) | `false` (`users`: `true`) | tune SQLite for the whole process before the store opens |
/// | `users.apiTokens` (`USERS_API_TOKENS`) | none | comma-separated bearer tokens; never a flag |
/// | `users.apiTokensFile` (`USERS_API_TOKENS_FILE`) | none | a file of tokens, one a line |
public struct UserAppConfiguration: Sendable {
    /// Where users are stored.
    public var store: StoreLocation
    /// Where relayed events go (a broker's exchange from `users.amqp.exchange`).
    public var publisher: EventDestination
    /// The address `serve` binds.
    public var host: String
    /// The port `serve` binds.
    public var port: Int
    /// The HTTP API's limits and rules.
    public var http: UserAPIConfiguration
    /// The HTTP server's connection time limits and bound.
    public var connections: HTTPConnectionLimits
    /// The outbox relay's batching and backoff.
    public var relay: OutboxRelayConfiguration
    /// PostgreSQL pool size.
    public var postgresMaximumConnections: Int
    /// PostgreSQL connections for point lookups, in pipeline mode (0: lookups use the pool).
    public var postgresLookupConnections: Int
    /// SQLite commit durability.
    public var sqliteSynchronousFull: Bool
    /// Whether opening a SQLite store first tunes SQLite for the whole process
    /// (`UserSQLite/SQLiteUserStore/configureProcess()`); `nil` when not configured. A library never
    /// changes its host process unasked, so `UserSystem` takes `nil` as "no"; the `users` command takes it as
    /// "yes" for its own process.
    public var sqliteTunesProcess: Bool?
    /// How long published events are kept; `nil` keeps them forever (the default; a directory rebuild needs
    /// the whole log).
    public var eventRetention: Duration?
    /// How long a directory query waits for the read model to reach its consistency token.
    public var directoryConsistencyTimeout: Duration
    /// The bearer tokens the API accepts (empty: no authentication, loopback only). From
    /// `USERS_API_TOKENS` (comma-separated) and a file named by `users.apiTokensFile` (one a line) — never
    /// from a command-line flag, which `ps` would show.
    ///
    /// The variable's tokens are separated by commas and trimmed of blanks; it has no comment syntax
    /// (`#Zk9s/tok` is a token). The file holds one token a line, trimmed; blank lines and lines whose first
    /// non-blank character is `#` are skipped. A token is visible ASCII without commas. A source that is
    /// configured but yields no token (an empty variable, a file of comments only) is a configuration error,
    /// never "no authentication".
    public var apiTokens: [String]

    /// Reads the configuration.
    ///
    /// - Throws: `ConfigurationError` naming the key, for a store URL or publisher it can't use, or a value of the wrong kind or out of range (a port of "80a", a batch size of 0): a bad
    ///   value is never silently replaced by the default.
    public init(reader: ConfigReader) throws {
        store = try StoreLocation(try ConfigValues.string(reader, "users.store", isSecret: true) ?? "sqlite:users.sqlite")
        publisher = try EventDestination(try ConfigValues.string(reader, "users.publisher", isSecret: true) ?? "none")
        let amqpExchange = try ConfigValues.string(reader, "users.amqp.exchange") ?? "users.events"
        guard !amqpExchange.isEmpty, amqpExchange.utf8.count <= 255 else {
            throw ConfigurationError(key: "users.amqp.exchange", "users.amqp.exchange must be 1 to 255 bytes.")
        }
        if case .amqp(let url, _) = publisher { publisher = .amqp(url: url, exchange: amqpExchange) }
        host = try ConfigValues.string(reader, "users.host") ?? "127.0.0.1"
        port = try ConfigValues.int(reader, "users.port", default: 8080, in: 0...65535)
        http = .init(
            maximumBodySize: try ConfigValues.int(reader, "users.http.maxBodySize", default: 64 * 1024, in: 1...(1 << 30)),
            requiresIfMatch: try ConfigValues.bool(reader, "users.http.requireIfMatch", default: false),
            idempotencyKeys: try ConfigValues.int(reader, "users.http.idempotencyKeys", default: 10_000, in: 1...10_000_000),
            idempotencyBytes: try ConfigValues.int(
                reader, "users.http.idempotencyBytes", default: 16 << 20, in: 0...(1 << 34)))
        connections = try HTTPConnectionLimits(reader, prefix: "users")
        relay = .init(
            batchSize: try ConfigValues.int(reader, "users.relay.batchSize", default: 100, in: 1...10_000),
            maximumAttempts: try ConfigValues.int(reader, "users.relay.maxAttempts", default: 10, in: 1...1000))
        let retentionDays = try ConfigValues.int(reader, "users.events.retentionDays", default: 0, in: 0...36_500)
        eventRetention = retentionDays == 0 ? nil : .seconds(retentionDays * 86_400)
        directoryConsistencyTimeout = .milliseconds(
            try ConfigValues.int(reader, "users.directory.consistencyTimeoutMs", default: 5000, in: 0...60_000))
        postgresMaximumConnections = try ConfigValues.int(reader, "users.postgres.maxConnections", default: 10, in: 1...1000)
        postgresLookupConnections = try ConfigValues.int(reader, "users.postgres.lookupConnections", default: 2, in: 0...64)
        let synchronous = (try ConfigValues.string(reader, "users.sqlite.synchronous") ?? "normal").lowercased()
        guard synchronous == "normal" || synchronous == "full" else {
            throw ConfigurationError(
                key: "users.sqlite.synchronous",
                "users.sqlite.synchronous must be normal or full, not \"\(synchronous)\".")
        }
        sqliteSynchronousFull = synchronous == "full"
        sqliteTunesProcess =
            !ConfigValues.isPresent(reader, "users.sqlite.tuneProcess")
            ? nil : try ConfigValues.bool(reader, "users.sqlite.tuneProcess", default: false)
        apiTokens = try APITokens.read(reader, prefix: "users")
    }

    /// The reader `users` uses: `arguments` (already parsed options, as keys), then the environment (the
    /// process's when `nil`), then the file (JSON, or YAML for `.yaml`/`.yml`), then the defaults written in
    /// ``init(reader:)``.
    public static func reader(
        arguments: [String: ConfigContent], environment: [String: String]? = nil, file: String? = nil
    ) async throws -> ConfigReader {
        try await ServiceConfiguration.reader(arguments: arguments, environment: environment, file: file)
    }
}
