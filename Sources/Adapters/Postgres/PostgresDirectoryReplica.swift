import Foundation
public import Logging
public import UserDomain
public import UserPorts

/// A `DirectoryReplica` over PostgreSQL: in a database of its own (a directory service's, ``open(url:maximumConnections:acquireTimeout:logger:)``)
/// or in a user store's database beside the users (``PostgresUserStore/directoryReplica``). Shared safely by any
/// number of appliers: a bounded pool of libpq connections, each on its own queue, never on Swift's cooperative
/// pool.
///
/// Each apply first takes a transaction-scoped advisory lock for every user of its batch, in one order, then
/// checks the version rule and writes the change, in one transaction: an applier that shares users with
/// another waits for it to commit and then finds their versions applied (a duplicate). So the version rule
/// holds with several processes following one broker or one history, with no lease. A deleted user keeps a
/// tombstone (`deleted`) with its last version.
///
/// In a database of its own, the schema is versioned (`replica_schema_migrations`, which also marks the database
/// as a directory's: a user store refuses it) and migrated under an advisory lock of its own, so several
/// processes starting at once migrate it once. A database that holds a user store (a `users` table in the first
/// schema of the search path) is refused. In a user store's database the store's migrations create the tables.
public final class PostgresDirectoryReplica: DirectoryReplica {
    private let pool: PostgresPool
    private let url: PostgresURL
    /// Whether ``close()`` closes the pool (not a user store's, which the store closes).
    private let owned: Bool

    init(pool: PostgresPool, url: PostgresURL, owned: Bool) {
        self.pool = pool
        self.url = url
        self.owned = owned
    }

    /// Connects and brings the replica's schema up to date.
    ///
    /// - Parameters:
    ///   - url: the database, `postgres://…` (its password is never logged).
    ///   - maximumConnections: the pool's size.
    ///   - acquireTimeout: how long a call waits for a free connection before it fails with `unavailable`.
    ///   - logger: for the pool's connects and failures.
    /// - Throws: `UserStoreError`, with the password redacted: the database can't be used, holds a user store
    ///   (`invalidConfiguration`), or has a replica schema newer than this package knows (`incompatibleSchema`).
    public static func open(
        url: String, maximumConnections: Int = 4, acquireTimeout: Duration = .seconds(5),
        logger: Logger = Logger(label: "user-postgres.replica", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> PostgresDirectoryReplica {
        let (pool, url) = try await PostgresPool.onDemand(
            url: url, maximumConnections: maximumConnections, acquireTimeout: acquireTimeout, logger: logger
        ) { connection, url in
            if try connection.query("SELECT to_regclass('users') IS NOT NULL").string(0, 0) == "t" {
                throw UserStoreError(
                    .invalidConfiguration,
                    "The database of \(url.redacted) holds a user store; a directory replica needs a database "
                        + "(or schema) of its own.")
            }
            try PostgresSchema.migrate(
                connection, redactedURL: url.redacted, ledger: "replica_schema_migrations", lockKey: lockKey,
                migrations: migrations)
        }
        return PostgresDirectoryReplica(pool: pool, url: url, owned: true)
    }

    /// Closes every connection of a replica in its own database (later calls throw `UserStoreError` code
    /// `closed`); a user store's replica is closed with its store.
    public func close() async {
        guard owned else { return }
        await pool.close()
    }

    /// The advisory lock key of the replica's migrations: "replica1" as an integer.
    static let lockKey: Int64 = 0x7265_706C_6963_6131

    static let migrations: [PostgresSchema.Migration] = [
        .init(version: 1, sql: tables),
        .init(version: 2, sql: PostgresDirectoryRows.counters),
    ]

    /// The replica's tables: in a database of its own (version 1) and in a user store's (its version 6).
    static let tables = """
            CREATE TABLE replica_users (
                id uuid PRIMARY KEY,
                email text NOT NULL,
                email_canonical text NOT NULL,
                display_name text NOT NULL,
                display_name_folded text NOT NULL,
                status text NOT NULL CHECK (status IN ('active', 'deactivated')),
                version integer NOT NULL CHECK (version >= 1),
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                deleted boolean NOT NULL DEFAULT false
            );
            CREATE INDEX replica_users_name ON replica_users (display_name_folded COLLATE "C", id) WHERE NOT deleted;
            CREATE INDEX replica_users_email ON replica_users (email_canonical COLLATE "C") WHERE NOT deleted;
            CREATE TABLE replica_state (name text PRIMARY KEY, value bigint NOT NULL);
            INSERT INTO replica_state (name, value) VALUES ('backfill_position', 0);
            """

    // MARK: Writes

    /// Applies events in order by the version rule, and moves the backfill position (never backwards), in one
    /// transaction.
    public func apply(_ events: [UserEventEnvelope], reaching position: EventPosition?) async throws
        -> [ReplicaOutcome]
    {
        guard !events.isEmpty || position != nil else { return [] }
        return try await transaction { connection in
            try Self.lockUsers(of: events, connection)
            // The batch's users' rows (under this transaction's locks), the rule worked out on them, the changed
            // rows written back, the counters and the position moved: four round trips a batch at most, whatever
            // its size.
            var rows = try PostgresDirectoryRows.rows(Set(events.map(\.userID)), connection)
            let (outcomes, changed, counts) = ReplicaBatch.apply(events, to: &rows)
            try PostgresDirectoryRows.write(changed.compactMap { rows[$0] }, connection)
            try PostgresDirectoryRows.moveState(counts, position: position, connection)
            return outcomes
        }
    }

    /// Empties the replica, its counters and its backfill position, in one transaction.
    public func reset() async throws {
        try await transaction { connection in
            // Alone: appliers hold this lock shared (`lockUsers`), so none is between reading its rows and moving
            // the counters while they are emptied.
            try connection.query("SELECT pg_advisory_xact_lock($1::int8)", [String(Self.resetLockKey)])
            _ = try connection.execute("DELETE FROM replica_users; UPDATE replica_state SET value = 0")
        }
    }

    /// Takes the reset lock shared, then a transaction-scoped advisory lock for each user of `events`, all in one
    /// order (by key), before
    /// any row is read or written: appliers whose batches share users wait for each other instead of
    /// deadlocking (row locks and key waits taken in batch order did, between three racing appliers), and two
    /// registrations of one new user never both insert.
    private static func lockUsers(of events: [UserEventEnvelope], _ connection: PostgresConnection) throws {
        try connection.query(
            """
            SELECT pg_advisory_xact_lock_shared($3::int8), count(pg_advisory_xact_lock(key)) FROM (
                SELECT DISTINCT hashtextextended(id::text, $2::int8) AS key FROM unnest($1::uuid[]) AS id ORDER BY key
            ) AS keys
            """,
            [PostgresArray.literal(events.map(\.userID.description)), String(lockSeed), String(resetLockKey)])
    }

    /// The advisory lock a reset holds alone and every apply holds shared ("replrset" as an integer).
    static let resetLockKey: Int64 = 0x7265_706C_7273_6574

    /// The seed of the advisory lock keys of users ("replica" as an integer), apart from other locks' keys.
    static let lockSeed: Int64 = 0x72_6570_6C69_6361

    /// The version applied for `id`, tombstones included.
    private static func appliedVersion(_ id: UserID, _ connection: PostgresConnection) throws -> Int? {
        let result = try connection.query("SELECT version FROM replica_users WHERE id = $1::uuid", [id.description])
        return result.rowCount == 1 ? Int(result.int64(0, 0)) : nil
    }

    // MARK: Reads

    /// The source position the backfill reached.
    public func backfillPosition() async throws -> EventPosition? {
        try await read { connection in
            let value = try connection.query(
                "SELECT value FROM replica_state WHERE name = 'backfill_position'"
            ).int64(0, 0)
            return value > 0 ? EventPosition(rawValue: value) : nil
        }
    }

    /// The version applied for a user, tombstones included.
    public func appliedVersion(of user: UserID) async throws -> Int? {
        try await read { connection in try Self.appliedVersion(user, connection) }
    }

    /// Entries whose e-mail or display name starts with `prefix`, ignoring case; tombstones never.
    public func search(prefix: String, limit: Int) async throws -> [DirectoryEntry] {
        try await read { connection in
            try PostgresDirectoryRows.search(prefix: prefix, limit: limit, connection)
        }
    }

    /// Counts by status, tombstones not counted.
    public func statistics() async throws -> DirectoryStatistics {
        try await read { connection in try PostgresDirectoryRows.statistics(connection) }
    }

    // MARK: Running statements

    private func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await PostgresUserStore.withConnection(pool: pool, url: url, retryingLostConnection: true, body)
    }

    private func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T)
        async throws -> T
    {
        try await PostgresUserStore.transaction(pool: pool, url: url, body)
    }
}
