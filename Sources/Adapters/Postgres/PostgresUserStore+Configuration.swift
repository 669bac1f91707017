extension PostgresUserStore {
    /// How to connect to PostgreSQL and size the pool.
    public struct Configuration: Sendable, Hashable {
        /// `postgres://user:pass@host:port/db?sslmode=…`; query parameters pass through to libpq (a unix
        /// socket folder as `host=/run/postgresql`, `sslmode`, `options`, …).
        public var url: String
        /// Connections kept open when idle.
        public var minimumConnections: Int
        /// The most connections open at once in the pool.
        public var maximumConnections: Int
        /// Connections of their own, outside the pool, for point lookups (`user(id:)`, `user(email:)`), in
        /// libpq's pipeline mode: each sends the lookups queued by concurrent callers together and reads the
        /// answers in one go. Two keep both of a small server's cores busy; `0` sends lookups through the pool.
        public var lookupConnections: Int
        /// How long an operation waits for a free connection before failing with `unavailable`.
        public var acquireTimeout: Duration
        /// How long a new connection may take (libpq `connect_timeout`, whole seconds, unless the URL sets it).
        public var connectTimeout: Duration
        /// Idle connections beyond the minimum are closed after this long.
        public var maximumIdleTime: Duration
        /// Whether to keep a LISTEN connection that wakes the relay on commits of every process. Turn it off
        /// behind a pooler that does not support LISTEN (PgBouncer in transaction mode); the relay then
        /// polls.
        public var listensForCommits: Bool

        /// Creates a configuration.
        public init(
            url: String,
            minimumConnections: Int = 1,
            maximumConnections: Int = 10,
            lookupConnections: Int = 2,
            acquireTimeout: Duration = .seconds(5),
            connectTimeout: Duration = .seconds(5),
            maximumIdleTime: Duration = .seconds(60),
            listensForCommits: Bool = true
        ) {
            self.url = url
            self.minimumConnections = minimumConnections
            self.maximumConnections = maximumConnections
            self.lookupConnections = lookupConnections
            self.acquireTimeout = acquireTimeout
            self.connectTimeout = connectTimeout
            self.maximumIdleTime = maximumIdleTime
            self.listensForCommits = listensForCommits
        }
    }
}

extension PostgresUserStore {
    /// `url` as it may be printed: the user-info password and every secret or unknown parameter replaced by
    /// `***`; when the URL does not parse, nothing after its scheme.
    public static func redacted(_ url: String) -> String {
        PostgresURL.redactURL(url)
    }
}
