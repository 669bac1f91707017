import CSQLite
import Foundation

/// A prepared statement of one connection. Finalized when released; reset by its user after each use.
///
/// Not Sendable: it belongs to its connection, which belongs to one worker thread.
final class SQLiteStatement {
    let handle: OpaquePointer
    let database: OpaquePointer

    init(database: OpaquePointer, sql: String) throws(SQLiteError) {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(database, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else {
            // A failed prepare leaves no statement to finalize.
            throw SQLiteError(code: code, handle: database)
        }
        self.handle = statement
        self.database = database
    }

    deinit {
        sqlite3_finalize(handle)
    }

    private func check(_ code: Int32) throws(SQLiteError) {
        if code != SQLITE_OK { throw SQLiteError(code: code, handle: database) }
    }

    func bind(_ index: Int32, _ value: Int64) throws(SQLiteError) {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    func bind(_ index: Int32, _ value: Int) throws(SQLiteError) {
        try bind(index, Int64(value))
    }

    func bind(_ index: Int32, _ value: String) throws(SQLiteError) {
        let code = value.withCString { text in
            sqlite3_bind_text(handle, index, text, Int32(value.utf8.count), user_domain_sqlite_transient())
        }
        try check(code)
    }

    /// Binds UTF-8 bytes as text.
    func bindText(_ index: Int32, _ utf8: [UInt8]) throws(SQLiteError) {
        let code = utf8.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { text in
                sqlite3_bind_text(handle, index, text, Int32(buffer.count), user_domain_sqlite_transient())
            }
        }
        try check(code)
    }

    func bind(_ index: Int32, _ value: UUID) throws(SQLiteError) {
        let code = withUnsafeBytes(of: value.uuid) { bytes in
            sqlite3_bind_blob(handle, index, bytes.baseAddress, 16, user_domain_sqlite_transient())
        }
        try check(code)
    }

    func bindNull(_ index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_null(handle, index))
    }

    /// Steps once: `true` when a row is ready, `false` when the statement is done.
    func step() throws(SQLiteError) -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code: throw SQLiteError(code: code, handle: database)
        }
    }

    /// Resets the statement for its next use (bindings are replaced by the next user).
    func reset() {
        sqlite3_reset(handle)
    }

    func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    /// Whether two columns hold the same bytes (a decoder then makes one String of them, not two).
    func sameBytes(_ column: Int32, _ other: Int32) -> Bool {
        let count = sqlite3_column_bytes(handle, column)
        guard count == sqlite3_column_bytes(handle, other) else { return false }
        guard let first = sqlite3_column_blob(handle, column), let second = sqlite3_column_blob(handle, other) else {
            return count == 0
        }
        return memcmp(first, second, Int(count)) == 0
    }

    func data(_ column: Int32) -> Data {
        guard let pointer = sqlite3_column_blob(handle, column) else { return Data() }
        return Data(bytes: pointer, count: Int(sqlite3_column_bytes(handle, column)))
    }

    /// A 16-byte blob as a UUID; `nil` when the column holds anything else.
    func uuid(_ column: Int32) -> UUID? {
        guard sqlite3_column_bytes(handle, column) == 16, let pointer = sqlite3_column_blob(handle, column) else {
            return nil
        }
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: 16)) }
        return UUID(uuid: uuid)
    }
}
