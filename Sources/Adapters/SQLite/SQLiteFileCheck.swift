import CSQLite
import Foundation
import UserPorts

/// Checks a database path before SQLite opens it, so that the common mistakes give a clear error naming
/// the path instead of SQLite's generic one, and so that a damaged file is never taken for a new database.
enum SQLiteFileCheck {
    private static let header = Array("SQLite format 3\0".utf8)

    /// Refuses a directory, an empty file, a file that is not a SQLite database and a database shorter than
    /// its header says (truncated). Creates a missing database, with its folder, atomically: it is built and
    /// migrated by `initialize` under a temporary name, then linked into place only if the path is still
    /// free. A database file therefore never exists half-made, and processes creating one at once can't
    /// mistake each other's new, still empty file for a damaged one.
    static func prepare(path: String, initialize: (SQLiteConnection) throws -> Void) throws {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue {
                throw UserStoreError(.invalidConfiguration, "\(path) is a directory, not a database file.")
            }
            try checkExistingFile(path: path)
            return
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try fileManager.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw UserStoreError(
                .accessDenied, "The folder of the database \(path) can't be created.", underlying: error)
        }
        let temporary = path + ".new-\(UUID().uuidString.prefix(8))"
        defer {
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temporary + suffix) }
        }
        do {
            let connection = try SQLiteConnection(path: temporary, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
            try initialize(connection)
        }  // The connection closes here: the WAL is checkpointed into the file.
        if link(temporary, path) != 0 && errno != EEXIST {
            throw UserStoreError(.accessDenied, "The database \(path) can't be created (errno \(errno)).")
        }
    }

    private static func checkExistingFile(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw UserStoreError(.accessDenied, "The database \(path) can't be read.")
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        if size == 0 {
            // SQLite would treat it as a new, empty database; a database truncated to nothing would then be
            // silently replaced. Refuse, and let a person decide.
            throw UserStoreError(
                .corrupt, "The file \(path) is empty, not a SQLite database. Remove it to start a new database.")
        }
        try? handle.seek(toOffset: 0)
        let bytes = [UInt8]((try? handle.read(upToCount: 100)) ?? Data())
        guard bytes.count >= 100, Array(bytes[0..<16]) == header else {
            throw UserStoreError(.corrupt, "The file \(path) is not a SQLite database.")
        }
        // The in-header page count is valid when the change counter (offset 24) equals the
        // version-valid-for number (offset 92). Without a WAL holding newer pages, the file must hold them all.
        func uint32(_ offset: Int) -> UInt32 {
            bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        let rawPageSize = Int(bytes[16]) << 8 | Int(bytes[17])
        let pageSize = rawPageSize == 1 ? 65_536 : rawPageSize
        let pageCount = UInt64(uint32(28))
        let walSize = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? UInt64) ?? 0
        if uint32(24) == uint32(92), walSize == 0, size < pageCount * UInt64(pageSize) {
            throw UserStoreError(
                .corrupt,
                "The database \(path) is truncated: it holds \(size) of \(pageCount * UInt64(pageSize)) bytes.")
        }
    }
}
