import CSQLite

/// A failed SQLite call: the extended result code and SQLite's own message.
///
/// SQLite's messages name constraints, columns and syntax, never bound values, and statements are only
/// ever built from constant SQL in this module; still, the message is kept for debugging only and never
/// shown to callers (see `UserStoreError`).
struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// The extended result code (`SQLITE_CONSTRAINT_UNIQUE`, …).
    let code: Int32
    /// `sqlite3_errmsg` at the time of the failure.
    let message: String

    /// The primary result code (`SQLITE_CONSTRAINT`, …).
    var primaryCode: Int32 { code & 0xFF }

    var description: String { "SQLite error \(code) (\(String(cString: sqlite3_errstr(code)))): \(message)" }

    /// The error of the last failed call on `handle`.
    init(code: Int32, handle: OpaquePointer?) {
        self.code = handle.map { sqlite3_extended_errcode($0) } ?? code
        self.message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
    }

    // Extended result codes are C macro expressions that Swift does not import.
    static let constraintUnique = SQLITE_CONSTRAINT | (8 << 8)
    static let constraintPrimaryKey = SQLITE_CONSTRAINT | (6 << 8)
    static let readonlyDatabaseMoved = SQLITE_READONLY | (4 << 8)

    var isUniqueViolation: Bool { code == Self.constraintUnique || code == Self.constraintPrimaryKey }
    var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }
    var isInterrupt: Bool { primaryCode == SQLITE_INTERRUPT }
}
