import CLibPQ
import Foundation
import Logging
import UserDomain
import UserAdapterSupport
public import UserPorts

/// ``UserDirectory``: the read model, kept in the same database as the users it shows.
extension PostgresUserStore {
    /// Entries whose e-mail or display name starts with `prefix`, ignoring case.
    public func searchDirectory(prefix: String, limit: Int) async throws -> [DirectoryEntry] {
        try await read { connection in
            try PostgresDirectoryRows.search(.directory, prefix: prefix, limit: limit, connection)
        }
    }

    /// Counts by status.
    public func directoryStatistics() async throws -> DirectoryStatistics {
        try await read { connection in try PostgresDirectoryRows.statistics(.directory, connection) }
    }

    /// The directory's checkpoint.
    public func directoryPosition() async throws -> EventPosition? {
        try await read { connection in
            let position = try connection.query(
                "SELECT position FROM projection_checkpoints WHERE name = 'directory'"
            ).int64(0, 0)
            return position > 0 ? EventPosition(rawValue: position) : nil
        }
    }

    /// Applies events and moves the checkpoint, in one transaction; events at or below it are skipped. The
    /// checkpoint row is locked first, so projections of several processes apply each event once.
    public func applyToDirectory(_ events: [OutboxEvent]) async throws {
        guard !events.isEmpty else { return }
        try await transaction { connection in
            let checkpoint = try connection.query(
                "SELECT position FROM projection_checkpoints WHERE name = 'directory' FOR UPDATE"
            ).int64(0, 0)
            var last = checkpoint
            for entry in events where entry.position.rawValue > last {
                try Self.applyToDirectory(entry.envelope, connection)
                last = entry.position.rawValue
            }
            if last > checkpoint {
                _ = try connection.query(
                    "UPDATE projection_checkpoints SET position = $1::int8 WHERE name = 'directory'", [String(last)])
            }
        }
    }

    /// Empties the directory and its checkpoint, unless retention trimmed the log.
    public func resetDirectory() async throws {
        let redacted = redactedURL
        try await transaction { connection in
            _ = try connection.query("SELECT position FROM projection_checkpoints WHERE name = 'directory' FOR UPDATE")
            let trimmed =
                try connection.query(
                    "SELECT 1 FROM projection_checkpoints WHERE name = '\(StoreConventions.trimmedHistoryMarker)'"
                ).rowCount > 0
            if trimmed {
                throw UserStoreError(
                    .historyTrimmed,
                    "The event log of \(redacted) was trimmed by retention; the directory can't be rebuilt from it.")
            }
            _ = try connection.query("DELETE FROM user_directory")
            _ = try connection.query("UPDATE projection_checkpoints SET position = 0 WHERE name = 'directory'")
        }
    }

    static func applyToDirectory(_ event: UserEventEnvelope, _ connection: PostgresConnection) throws {
        let change = DirectoryChange(event)
        if try !PostgresDirectoryRows.write(change, into: .directory, connection), case .remove(let id) = change {
            _ = try connection.query("DELETE FROM user_directory WHERE id = $1::uuid", [id.description])
        }
    }
}
