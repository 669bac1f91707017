/// A statement of an ``SQLiteIdempotentConsumer`` effect (or set-up) failed: SQLite's own result code and
/// message, and the statement.
///
/// Unlike the store's errors, which stay generic because their SQL is the package's, this one shows what SQLite
/// said: the statement is the application's own (`no such table: welcome_mail` is what its author needs to see).
/// Bound values are never part of it.
public struct SQLiteEffectError: Error, Sendable, CustomStringConvertible {
    /// SQLite's extended result code (`SQLITE_ERROR` is 1, `SQLITE_CONSTRAINT_UNIQUE` 2067, …).
    public let code: Int32
    /// SQLite's message (`sqlite3_errmsg`), e.g. `no such table: welcome_mail`.
    public let message: String
    /// The statement that failed, as the effect passed it.
    public let sql: String

    /// `SQLite error CODE in "SQL": MESSAGE`.
    public var description: String { "SQLite error \(code) in \"\(sql)\": \(message)" }

    init(_ error: SQLiteError, sql: String) {
        code = error.code
        message = error.message
        self.sql = sql
    }
}
