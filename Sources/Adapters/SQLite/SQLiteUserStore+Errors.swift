import CSQLite
import Foundation
import Logging
import UserDomain
import UserPorts

/// SQLite result codes as the ports' errors.
extension SQLiteUserStore {
    /// Translates SQLite's errors into the port's: domain errors and `UserStoreError` pass through,
    /// `SQLITE_INTERRUPT` becomes `CancellationError`, the rest a `UserStoreError` that names the path and
    /// keeps SQLite's error only as `underlying`.
    static func mapError(_ error: any Error, path: String, opening: Bool) -> any Error {
        guard let error = error as? SQLiteError else { return error }
        let primary = error.primaryCode
        switch primary {
        case SQLITE_INTERRUPT:
            return CancellationError()
        case SQLITE_BUSY, SQLITE_LOCKED:
            return UserStoreError(
                .unavailable, "The database \(path) is locked by another connection.", underlying: error)
        case SQLITE_NOTADB:
            return UserStoreError(.corrupt, "The file \(path) is not a SQLite database.", underlying: error)
        case SQLITE_CORRUPT:
            return UserStoreError(.corrupt, "The database \(path) is corrupt.", underlying: error)
        case SQLITE_READONLY where error.code == SQLiteError.readonlyDatabaseMoved:
            return UserStoreError(
                .unavailable,
                "The database file \(path) (or its write-ahead log) was removed or replaced while open: writes are "
                    + "refused until the service is restarted on the file it should use.", underlying: error)
        case SQLITE_READONLY, SQLITE_PERM, SQLITE_AUTH:
            return UserStoreError(.accessDenied, "The database \(path) can't be written.", underlying: error)
        case SQLITE_CANTOPEN:
            return UserStoreError(.accessDenied, "The database \(path) can't be opened.", underlying: error)
        case SQLITE_FULL:
            return UserStoreError(.unavailable, "The disk holding \(path) is full.", underlying: error)
        case SQLITE_IOERR:
            return UserStoreError(.unavailable, "A disk I/O error occurred on \(path).", underlying: error)
        default:
            return UserStoreError(
                .internal, opening ? "The database \(path) could not be opened." : "A SQLite operation failed.",
                underlying: error)
        }
    }
}
