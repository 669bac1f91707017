import CSQLite
import Foundation
public import UserDomain
public import UserPorts

/// A `DirectoryReplica` over SQLite: in a file of its own (a directory service's database, ``open(path:busyTimeout:)``),
/// or in a user store's file beside the users (``SQLiteUserStore/directoryReplica``). Its connections live on
/// `SQLiteWorker` queues, never on Swift's cooperative pool.
///
/// Each apply reads the user's applied version and writes the change in one `BEGIN IMMEDIATE` transaction,
/// so a crash keeps both or neither, and a redelivered event after a restart is a duplicate. Rows of deleted
/// users stay as tombstones (`deleted = 1`) with their last version.
///
/// ```swift
/// let replica = try await SQLiteDirectoryReplica.open(path: "directory.sqlite")
/// let outcome = try await replica.apply(envelope)
/// await replica.close()
/// ```
public final class SQLiteDirectoryReplica: DirectoryReplica {
    private let writer: SQLiteWorker
    private let reader: SQLiteWorker
    /// Whether ``close()`` closes the connections (not a user store's, which the store closes).
    private let ownsConnections: Bool
    /// The file's path, as given.
    public let path: String

    private init(path: String, writer: SQLiteWorker, reader: SQLiteWorker, ownsConnections: Bool) {
        self.path = path
        self.writer = writer
        self.reader = reader
        self.ownsConnections = ownsConnections
    }

    /// The replica in a user store's file, on the store's writer and one of its readers.
    convenience init(store: SQLiteUserStore) {
        self.init(
            path: store.configuration.path, writer: store.writer, reader: store.readers.last ?? store.writer,
            ownsConnections: false)
    }

    /// Opens (creating if needed) the replica's database and brings its schema to the newest version.
    ///
    /// - Throws: `UserStoreError`, naming the path, when the database can't be opened; code
    ///   `invalidConfiguration` when the file holds a user store or another application's data;
    ///   `incompatibleSchema` when a newer version of the package wrote it.
    public static func open(path: String, busyTimeout: Duration = .seconds(5)) async throws -> SQLiteDirectoryReplica {
        let writer = SQLiteWorker(label: "user-sqlite.replica.writer")
        let reader = SQLiteWorker(label: "user-sqlite.replica.reader")
        let milliseconds = Int32(clamping: busyTimeout.components.seconds * 1000)
        do {
            try await writer.open {
                try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
            } setUp: { connection in
                sqlite3_busy_timeout(connection.handle, milliseconds)
                _ = try connection.scalarText("PRAGMA journal_mode = WAL")
                try connection.execute("PRAGMA synchronous = NORMAL")
                try migrate(connection, path: path)
            }
            try await reader.open {
                try SQLiteConnection(path: path, flags: SQLITE_OPEN_READONLY)
            } setUp: { connection in
                sqlite3_busy_timeout(connection.handle, milliseconds)
                try connection.execute("PRAGMA query_only = ON")
            }
        } catch {
            await writer.close()
            await reader.close()
            throw SQLiteUserStore.mapError(error, path: path, opening: true)
        }
        return SQLiteDirectoryReplica(path: path, writer: writer, reader: reader, ownsConnections: true)
    }

    /// Closes both connections of a replica in its own file (later calls throw `UserStoreError` code
    /// `closed`); a user store's replica is closed with its store.
    public func close() async {
        guard ownsConnections else { return }
        await reader.close()
        await writer.close()
    }

    /// The newest schema of a replica file (`PRAGMA user_version`): 1, the tables of ``tables``; 2, the counters
    /// of the rows shown (`SQLiteDirectoryRows.counters`).
    static let schemaVersion = 2

    /// A replica file's schema, under SQLite's write lock so that processes opening one file at once migrate it
    /// once: claimed as a replica, then brought to ``schemaVersion`` (a file of the release before the version
    /// was recorded has the tables already).
    private static func migrate(_ connection: SQLiteConnection, path: String) throws {
        try connection.writeTransaction {
            try SQLiteDatabaseKind.directoryReplica.claim(connection, path: path)
            let version = Int(try connection.scalarText("PRAGMA user_version") ?? "0") ?? 0
            if version > schemaVersion {
                throw UserStoreError(
                    .incompatibleSchema,
                    "The directory database \(path) has schema version \(version); this version of the package knows "
                        + "up to \(schemaVersion). Upgrade the package instead of opening it with an older one.")
            }
            if version < 1 { try connection.execute(tables) }
            if version < 2 { try connection.execute(SQLiteDirectoryRows.counters) }
            try connection.execute("PRAGMA user_version = \(schemaVersion)")
        }
    }

    /// The replica's tables: in a file of its own (version 1) and in a user store's file (its version 5).
    static let tables = """
        CREATE TABLE IF NOT EXISTS replica_users (
            id BLOB PRIMARY KEY,
            email TEXT NOT NULL,
            email_canonical TEXT NOT NULL,
            display_name TEXT NOT NULL,
            display_name_folded TEXT NOT NULL,
            status TEXT NOT NULL,
            version INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS replica_users_name ON replica_users (display_name_folded, id) WHERE deleted = 0;
        CREATE INDEX IF NOT EXISTS replica_users_email ON replica_users (email_canonical) WHERE deleted = 0;
        CREATE TABLE IF NOT EXISTS replica_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
        INSERT INTO replica_state (name, value) VALUES ('backfill_position', 0) ON CONFLICT DO NOTHING;
        """

    // MARK: Writes

    /// Applies events in order by the version rule, and moves the backfill position, in one transaction.
    public func apply(_ events: [UserEventEnvelope], reaching position: EventPosition?) async throws
        -> [ReplicaOutcome]
    {
        guard !events.isEmpty || position != nil else { return [] }
        return try await write { connection in
            try connection.writeTransaction {
                // The batch's users' rows, the rule worked out on them, the changed rows written back.
                var rows = try SQLiteDirectoryRows.rows(Set(events.map(\.userID)), connection)
                let (outcomes, changed, counts) = ReplicaBatch.apply(events, to: &rows)
                try SQLiteDirectoryRows.write(changed.compactMap { rows[$0] }, connection)
                try SQLiteDirectoryRows.count(counts, connection)
                if let position {
                    try connection.withStatement(
                        "UPDATE replica_state SET value = max(value, ?1) WHERE name = 'backfill_position'"
                    ) { statement in
                        try statement.bind(1, position.rawValue)
                        _ = try statement.step()
                    }
                }
                return outcomes
            }
        }
    }

    /// Empties the replica, its counters and its backfill position, in one transaction.
    public func reset() async throws {
        try await write { connection in
            try connection.writeTransaction {
                try connection.execute("DELETE FROM replica_users; UPDATE replica_state SET value = 0")
            }
        }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        do {
            return try await writer.performWrite(body)
        } catch {
            throw SQLiteUserStore.mapError(error, path: path, opening: false)
        }
    }

    private static func appliedVersion(_ id: UserID, _ connection: SQLiteConnection) throws -> Int? {
        try connection.withStatement("SELECT version FROM replica_users WHERE id = ?1") { statement in
            try statement.bind(1, id.uuid)
            return try statement.step() ? Int(statement.int64(0)) : nil
        }
    }

    // MARK: Reads

    private func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        do {
            return try await reader.perform(body)
        } catch {
            throw SQLiteUserStore.mapError(error, path: path, opening: false)
        }
    }

    /// The source position the backfill reached.
    public func backfillPosition() async throws -> EventPosition? {
        try await read { connection in
            try connection.withStatement("SELECT value FROM replica_state WHERE name = 'backfill_position'") {
                statement in
                guard try statement.step(), statement.int64(0) > 0 else { return nil }
                return EventPosition(rawValue: statement.int64(0))
            }
        }
    }

    /// The version applied for a user, tombstones included.
    public func appliedVersion(of user: UserID) async throws -> Int? {
        try await read { connection in try Self.appliedVersion(user, connection) }
    }

    /// Entries whose e-mail or display name starts with `prefix`, ignoring case; tombstones never.
    public func search(prefix: String, limit: Int) async throws -> [DirectoryEntry] {
        try await read { connection in
            try SQLiteDirectoryRows.search(prefix: prefix, limit: limit, connection)
        }
    }

    /// Counts by status, tombstones not counted.
    public func statistics() async throws -> DirectoryStatistics {
        try await read { connection in try SQLiteDirectoryRows.statistics(connection) }
    }
}
