import CSQLite
import CSQLiteSupport
import Foundation

/// One SQLite connection and its statement cache.
///
/// Not Sendable: a connection is owned by one ``SQLiteWorker`` and used only on that worker's queue. It is
/// opened in multi-thread mode (`SQLITE_OPEN_NOMUTEX`), which is sound because no two threads use it at
/// once.
final class SQLiteConnection {
    let handle: OpaquePointer
    private var statements: [String: SQLiteStatement] = [:]
    /// The context of the connection's WAL hook (``SQLiteCheckpointer``), kept alive as long as the connection.
    var walHookOwner: AnyObject?
    /// The write-ahead log's device and inode, as first seen by ``checkFileNotMoved()``.
    private var walIdentity: (device: UInt64, inode: UInt64)?

    init(path: String, flags: Int32) throws(SQLiteError) {
        var handle: OpaquePointer?
        let code = sqlite3_open_v2(path, &handle, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nil)
        guard code == SQLITE_OK, let handle else {
            let error = SQLiteError(code: code, handle: handle)
            sqlite3_close_v2(handle)
            throw error
        }
        self.handle = handle
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Runs SQL without results (several statements allowed): schema, pragmas, transaction control.
    func execute(_ sql: String) throws(SQLiteError) {
        let code = sqlite3_exec(handle, sql, nil, nil, nil)
        if code != SQLITE_OK { throw SQLiteError(code: code, handle: handle) }
    }

    /// The cached prepared statement for `sql`, prepared on first use.
    func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let statement = statements[sql] { return statement }
        let statement = try SQLiteStatement(database: handle, sql: sql)
        statements[sql] = statement
        return statement
    }

    /// Runs `body` with the statement for `sql`, resetting the statement afterwards on every path.
    func withStatement<T>(_ sql: String, _ body: (SQLiteStatement) throws -> T) throws -> T {
        let statement = try statement(sql)
        defer { statement.reset() }
        return try body(statement)
    }

    /// The first column of the first row of a query, as text (for pragmas).
    func scalarText(_ sql: String) throws -> String? {
        try withStatement(sql) { statement in try statement.step() ? statement.text(0) : nil }
    }

    /// Throws `SQLITE_READONLY_DBMOVED` when the database file was removed, renamed or replaced since this
    /// connection opened it (SQLite's `SQLITE_FCNTL_HAS_MOVED`: a `stat` of the path against the open file), or
    /// when its write-ahead log was (a `stat` of `PATH-wal` against the one first seen: SQLite keeps writing
    /// to the log it has open, which a crash then loses with every commit in it). A write then would commit
    /// into a file that no path names any more: acknowledged, and lost at the next restart. Writers call it
    /// before each write; a read doesn't need it. Its cost, measured in C on this project's 2-core VM: 1.2 µs for
    /// the file control and 1.1 µs for the log's `stat`, about 2 % of a registration through the store (107 µs
    /// in the last users-bench run).
    func checkFileNotMoved() throws(SQLiteError) {
        var moved: Int32 = 0
        if sqlite3_file_control(handle, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK, moved != 0 {
            throw SQLiteError(code: SQLiteError.readonlyDatabaseMoved, handle: nil)
        }
        // In WAL mode the log exists while a connection is open (SQLite removes it only when the last one
        // closes); a rollback-journal database never has one, and is never checked here.
        guard let database = sqlite3_db_filename(handle, "main"), database.pointee != 0,
            let log = sqlite3_filename_wal(database)
        else { return }
        var status = stat()
        guard stat(log, &status) == 0 else {
            if walIdentity != nil { throw SQLiteError(code: SQLiteError.readonlyDatabaseMoved, handle: nil) }
            return
        }
        let identity = (device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        guard let seen = walIdentity else {
            walIdentity = identity
            return
        }
        if seen != identity { throw SQLiteError(code: SQLiteError.readonlyDatabaseMoved, handle: nil) }
    }

    /// Rows changed by the last statement.
    var changes: Int { Int(sqlite3_changes(handle)) }

    /// The rowid of the last insert.
    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction (the write lock is taken at once, so the transaction
    /// never fails to upgrade from a read lock), committing when it returns and rolling back when it throws.
    ///
    /// `BEGIN` and `COMMIT` run as cached statements: `sqlite3_exec` would parse them on every write.
    func writeTransaction<T>(_ body: () throws -> T) throws -> T {
        try withStatement("BEGIN IMMEDIATE") { _ = try $0.step() }
        do {
            let result = try body()
            try withStatement("COMMIT") { _ = try $0.step() }
            return result
        } catch {
            if sqlite3_get_autocommit(handle) == 0 {
                try? execute("ROLLBACK")
            }
            throw error
        }
    }
}
