extension SQLiteUserStore {
    /// How to open a SQLite store.
    public struct Configuration: Sendable, Hashable {
        /// How hard SQLite works to make a commit durable.
        public enum Synchronous: String, Sendable, Hashable, CustomStringConvertible {
            /// In WAL mode: a commit survives a crash of the process; the last commits may be lost on power
            /// loss (the database stays consistent). The default, and SQLite's advice for WAL.
            case normal
            /// A commit is on disk before it returns (an fsync per commit): survives power loss too.
            case full

            /// The raw value.
            public var description: String { rawValue }
        }

        /// The path of the database file, or `:memory:` for a private in-memory database.
        public var path: String
        /// Commit durability; `.normal` by default.
        public var synchronous: Synchronous
        /// How long a statement waits for a lock held by another connection before failing with
        /// `UserStoreError` code `unavailable`.
        public var busyTimeout: Duration
        /// Reader connections (WAL readers run in parallel with the writer and each other); at least 1.
        /// An in-memory database uses the writer alone.
        public var readerCount: Int

        /// The path of a private in-memory database.
        public static let inMemoryPath = ":memory:"

        /// Creates a configuration.
        public init(
            path: String,
            synchronous: Synchronous = .normal,
            busyTimeout: Duration = .seconds(5),
            readerCount: Int = 4
        ) {
            self.path = path
            self.synchronous = synchronous
            self.busyTimeout = busyTimeout
            self.readerCount = readerCount
        }

        /// Whether the database lives in memory.
        public var isInMemory: Bool { path == Self.inMemoryPath || path.isEmpty }
    }
}
