import CSQLite
import Foundation
import Logging
public import UserDomain
import UserPorts

/// A value bound to, or read from, a SQLite statement of an ``SQLiteIdempotentConsumer`` effect.
public enum SQLiteValue: Sendable, Hashable {
    /// SQL NULL.
    case null
    /// A 64-bit integer.
    case integer(Int64)
    /// A double.
    case real(Double)
    /// UTF-8 text.
    case text(String)
    /// Bytes.
    case blob([UInt8])
}

/// The statements an effect runs, inside the transaction that also records the event as processed. Valid
/// only during the effect; it runs on the consumer's own queue, never on Swift's cooperative pool.
public struct SQLiteTransaction: ~Copyable {
    let connection: SQLiteConnection

    /// Runs a statement with bound parameters (`?1`, `?2`, … or `?`).
    ///
    /// - Returns: the number of rows it changed.
    /// - Throws: ``SQLiteEffectError`` with SQLite's message when the statement fails.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [SQLiteValue] = []) throws -> Int {
        try Self.reporting(sql) {
            try connection.withStatement(sql) { statement in
                try Self.bind(parameters, statement)
                while try statement.step() {}
            }
        }
        return connection.changes
    }

    /// Runs a query with bound parameters and returns its rows.
    ///
    /// - Throws: ``SQLiteEffectError`` with SQLite's message when the statement fails.
    public func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws -> [[SQLiteValue]] {
        try Self.reporting(sql) {
            try connection.withStatement(sql) { statement in
                try Self.bind(parameters, statement)
                var rows: [[SQLiteValue]] = []
                while try statement.step() {
                    rows.append((0..<statement.columnCount).map { statement.value($0) })
                }
                return rows
            }
        }
    }

    /// The application's statements fail with SQLite's own words (see ``SQLiteEffectError``).
    private static func reporting<T>(_ sql: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SQLiteError where !error.isInterrupt {
            throw SQLiteEffectError(error, sql: sql)
        }
    }

    private static func bind(_ parameters: [SQLiteValue], _ statement: SQLiteStatement) throws {
        for (offset, value) in parameters.enumerated() {
            try statement.bind(Int32(offset + 1), value)
        }
    }
}

/// An idempotent consumer over SQLite: each event's effect runs in one transaction with the record that the
/// event was processed, so a redelivered event (the relay delivers at least once) has no second effect,
/// and a crash either keeps both or neither.
///
/// The consumer keeps its ledger in a `processed_events` table of the database it is given (created when
/// missing), next to the tables its effects write, which is what makes the two atomic. The application creates
/// its own tables once, in the `setUp` of ``open(path:name:busyTimeout:setUp:)``, not in every effect. A
/// statement of the application's that fails throws ``SQLiteEffectError`` with SQLite's message.
///
/// ```swift
/// let consumer = try await SQLiteIdempotentConsumer.open(path: "mailer.sqlite", name: "welcome-mail") { db in
///     try db.execute("CREATE TABLE IF NOT EXISTS outgoing_mail (user_id TEXT NOT NULL, kind TEXT NOT NULL)")
/// }
/// try await consumer.handle(event) { db in
///     try db.execute("INSERT INTO outgoing_mail (user_id, kind) VALUES (?1, 'welcome')", [.text("\(event.userID)")])
/// }
/// ```
public final class SQLiteIdempotentConsumer: Sendable {
    /// The consumer's name in the ledger: consumers sharing a database keep separate ledgers.
    public let name: String
    private let worker: SQLiteWorker
    private let path: String

    private init(name: String, worker: SQLiteWorker, path: String) {
        self.name = name
        self.worker = worker
        self.path = path
    }

    /// Opens (creating if needed) the consumer's database and its ledger table, then runs `setUp` once in a
    /// transaction: where the application creates (or migrates) the tables its effects write.
    ///
    /// - Throws: `UserStoreError`, naming the path, when the database can't be opened; ``SQLiteEffectError``
    ///   when a statement of `setUp` fails.
    public static func open(
        path: String, name: String, busyTimeout: Duration = .seconds(5),
        setUp: @escaping @Sendable (borrowing SQLiteTransaction) throws -> Void = { _ in }
    ) async throws -> SQLiteIdempotentConsumer {
        let worker = SQLiteWorker(label: "user-sqlite.consumer")
        do {
            try await worker.open {
                try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
            } setUp: { connection in
                let milliseconds = busyTimeout.components.seconds * 1000
                sqlite3_busy_timeout(connection.handle, Int32(clamping: milliseconds))
                if path != ":memory:" { _ = try connection.scalarText("PRAGMA journal_mode = WAL") }
                try connection.execute(
                    """
                    CREATE TABLE IF NOT EXISTS processed_events (
                        consumer TEXT NOT NULL,
                        event_id BLOB NOT NULL,
                        processed_at INTEGER NOT NULL,
                        PRIMARY KEY (consumer, event_id)
                    ) STRICT, WITHOUT ROWID
                    """)
                try connection.writeTransaction { try setUp(SQLiteTransaction(connection: connection)) }
            }
        } catch {
            await worker.close()
            throw SQLiteUserStore.mapError(error, path: path, opening: true)
        }
        return SQLiteIdempotentConsumer(name: name, worker: worker, path: path)
    }

    /// Applies `effect` and records the event in one transaction, unless this consumer processed the event
    /// before. A throwing effect rolls both back: the event stays unprocessed and a redelivery runs it again.
    ///
    /// - Returns: `true` when the effect ran, `false` for a duplicate.
    @discardableResult
    public func handle(
        _ event: UserEventEnvelope, _ effect: @escaping @Sendable (borrowing SQLiteTransaction) throws -> Void
    ) async throws -> Bool {
        try await handle([event]) { transaction, _ in try effect(transaction) }[0]
    }

    /// Applies `effect` to each event this consumer did not process before, in order, and records them, all
    /// in one transaction: one commit for a batch of deliveries (`RabbitMQConsumer`'s batch handler). A
    /// throwing effect rolls the whole batch back: none is recorded, and a redelivery runs them again.
    ///
    /// - Returns: for each event, at the same index, `true` when its effect ran, `false` for a duplicate
    ///   (processed before, or earlier in `events`).
    @discardableResult
    public func handle(
        _ events: [UserEventEnvelope],
        _ effect: @escaping @Sendable (borrowing SQLiteTransaction, UserEventEnvelope) throws -> Void
    ) async throws -> [Bool] {
        guard !events.isEmpty else { return [] }
        let name = name
        let now = Date().epochMilliseconds
        do {
            return try await worker.performWrite { connection in
                try connection.writeTransaction {
                    try connection.withStatement(
                        """
                        INSERT INTO processed_events (consumer, event_id, processed_at) VALUES (?1, ?2, ?3)
                        ON CONFLICT DO NOTHING
                        """
                    ) { statement in
                        var ran: [Bool] = []
                        ran.reserveCapacity(events.count)
                        for event in events {
                            try statement.bind(1, name)
                            try statement.bind(2, event.eventID)
                            try statement.bind(3, now)
                            _ = try statement.step()
                            statement.reset()
                            let isNew = connection.changes == 1
                            if isNew { try effect(SQLiteTransaction(connection: connection), event) }
                            ran.append(isNew)
                        }
                        return ran
                    }
                }
            }
        } catch let error as SQLiteError {
            throw SQLiteUserStore.mapError(error, path: path, opening: false)
        }
    }

    /// Whether this consumer processed `event`.
    public func hasProcessed(_ event: UserEventEnvelope) async throws -> Bool {
        let name = name
        return try await worker.perform { connection in
            try connection.withStatement("SELECT 1 FROM processed_events WHERE consumer = ?1 AND event_id = ?2") {
                statement in
                try statement.bind(1, name)
                try statement.bind(2, event.eventID)
                return try statement.step()
            }
        }
    }

    /// Closes the database.
    public func close() async {
        await worker.close()
    }
}

extension SQLiteStatement {
    var columnCount: Int32 { sqlite3_column_count(handle) }

    func bind(_ index: Int32, _ value: SQLiteValue) throws(SQLiteError) {
        switch value {
        case .null: try bindNull(index)
        case .integer(let number): try bind(index, number)
        case .real(let number):
            let code = sqlite3_bind_double(handle, index, number)
            if code != SQLITE_OK { throw SQLiteError(code: code, handle: database) }
        case .text(let text): try bind(index, text)
        case .blob(let bytes):
            let code = bytes.withUnsafeBytes { buffer in
                sqlite3_bind_blob(
                    handle, index, buffer.baseAddress, Int32(buffer.count), user_domain_sqlite_transient())
            }
            if code != SQLITE_OK { throw SQLiteError(code: code, handle: database) }
        }
    }

    func value(_ column: Int32) -> SQLiteValue {
        switch sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER: .integer(int64(column))
        case SQLITE_FLOAT: .real(sqlite3_column_double(handle, column))
        case SQLITE_TEXT: .text(text(column))
        case SQLITE_BLOB: .blob([UInt8](data(column)))
        default: .null
        }
    }
}
