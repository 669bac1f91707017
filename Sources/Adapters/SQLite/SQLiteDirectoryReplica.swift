import CSQLite
import Foundation
public import UserDomain
public import UserPorts

/// A `DirectoryReplica` in a SQLite file of its own (a second service's database): one writer and one
/// reader connection in WAL mode, each on its own `SQLiteWorker` queue, never on Swift's cooperative pool.
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
    /// The file's path, as given.
    public let path: String

    private init(path: String, writer: SQLiteWorker, reader: SQLiteWorker) {
        self.path = path
        self.writer = writer
        self.reader = reader
    }

    /// Opens (creating if needed) the replica's database and its tables.
    ///
    /// - Throws: `UserStoreError`, naming the path, when the database can't be opened; code
    ///   `invalidConfiguration` when the file holds a user store or another application's data.
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
                try connection.writeTransaction {
                    try SQLiteDatabaseKind.directoryReplica.claim(connection, path: path)
                    try connection.execute(Self.schema)
                }
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
        return SQLiteDirectoryReplica(path: path, writer: writer, reader: reader)
    }

    /// Closes both connections; later calls throw `UserStoreError` code `closed`.
    public func close() async {
        await reader.close()
        await writer.close()
    }

    static let schema = """
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

    /// Applies events in order by the version rule, in one transaction with their checks.
    public func apply(_ events: [UserEventEnvelope]) async throws -> [ReplicaOutcome] {
        guard !events.isEmpty else { return [] }
        return try await write { connection in
            try connection.writeTransaction { try events.map { try Self.apply($0, connection) } }
        }
    }

    /// Applies a page of the source's history and moves the backfill position, in one transaction.
    public func applyBackfill(_ events: [UserEventEnvelope], reaching position: EventPosition) async throws
        -> ReplicaBackfillResult
    {
        try await write { connection in
            try connection.writeTransaction {
                let result = ReplicaBackfillResult(counting: try events.map { try Self.apply($0, connection) })
                try connection.withStatement(
                    "UPDATE replica_state SET value = max(value, ?1) WHERE name = 'backfill_position'"
                ) { statement in
                    try statement.bind(1, position.rawValue)
                    _ = try statement.step()
                }
                return result
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

    /// The version check and the change, inside the caller's transaction.
    private static func apply(_ event: UserEventEnvelope, _ connection: SQLiteConnection) throws -> ReplicaOutcome {
        let outcome = ReplicaOutcome.of(event, appliedVersion: try appliedVersion(event.userID, connection) ?? 0)
        guard outcome == .applied else { return outcome }
        let change = DirectoryChange(event)
        if try !SQLiteDirectoryRows.write(change, into: .replica, connection), case .remove(let id) = change {
            // The tombstone: the row stays, with the deleting event's version.
            try connection.withStatement(
                "UPDATE replica_users SET deleted = 1, version = ?2, updated_at = ?3 WHERE id = ?1"
            ) { statement in
                try statement.bind(1, id.uuid)
                try statement.bind(2, event.userVersion)
                try statement.bind(3, event.occurredAt.epochMilliseconds)
                _ = try statement.step()
            }
        }
        return .applied
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
            try SQLiteDirectoryRows.search(.replica, prefix: prefix, limit: limit, connection)
        }
    }

    /// Counts by status, tombstones not counted.
    public func statistics() async throws -> DirectoryStatistics {
        try await read { connection in try SQLiteDirectoryRows.statistics(.replica, connection) }
    }
}
