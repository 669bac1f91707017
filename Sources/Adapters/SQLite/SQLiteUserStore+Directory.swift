import CSQLite
import Foundation
import Logging
import UserDomain
import UserAdapterSupport
public import UserPorts

/// ``UserDirectory``: the read model, kept in the same file as the users it shows.
extension SQLiteUserStore {
    /// Entries whose e-mail or display name starts with `prefix`, ignoring case.
    public func searchDirectory(prefix: String, limit: Int) async throws -> [DirectoryEntry] {
        try await read { connection in
            try SQLiteDirectoryRows.search(.directory, prefix: prefix, limit: limit, connection)
        }
    }

    /// Counts by status.
    public func directoryStatistics() async throws -> DirectoryStatistics {
        try await read { connection in try SQLiteDirectoryRows.statistics(.directory, connection) }
    }

    /// The directory's checkpoint.
    public func directoryPosition() async throws -> EventPosition? {
        try await read { connection in try Self.directoryCheckpoint(connection) }
    }

    /// Applies events and moves the checkpoint, in one transaction; events at or below it are skipped.
    public func applyToDirectory(_ events: [OutboxEvent]) async throws {
        guard !events.isEmpty else { return }
        try await write { connection in
            try connection.writeTransaction {
                let checkpoint = try Self.directoryCheckpoint(connection)?.rawValue ?? 0
                var last = checkpoint
                for entry in events where entry.position.rawValue > last {
                    try Self.applyToDirectory(entry.envelope, connection)
                    last = entry.position.rawValue
                }
                guard last > checkpoint else { return }
                try connection.withStatement(
                    "UPDATE projection_checkpoints SET position = ?1 WHERE name = 'directory'"
                ) { statement in
                    try statement.bind(1, last)
                    _ = try statement.step()
                }
            }
        }
    }

    /// Empties the directory and its checkpoint, unless retention trimmed the log.
    public func resetDirectory() async throws {
        try await write { connection in
            try connection.writeTransaction {
                let trimmed = try connection.withStatement(
                    "SELECT 1 FROM projection_checkpoints WHERE name = '\(StoreConventions.trimmedHistoryMarker)'"
                ) { try $0.step() }
                if trimmed {
                    throw UserStoreError(
                        .historyTrimmed,
                        "The event log of \(self.configuration.path) was trimmed by retention; the directory can't "
                            + "be rebuilt from it.")
                }
                try connection.execute("DELETE FROM user_directory")
                try connection.execute("UPDATE projection_checkpoints SET position = 0 WHERE name = 'directory'")
            }
        }
    }

    static func directoryCheckpoint(_ connection: SQLiteConnection) throws -> EventPosition? {
        try connection.withStatement("SELECT position FROM projection_checkpoints WHERE name = 'directory'") {
            statement in
            guard try statement.step(), statement.int64(0) > 0 else { return nil }
            return EventPosition(rawValue: statement.int64(0))
        }
    }

    static func applyToDirectory(_ event: UserEventEnvelope, _ connection: SQLiteConnection) throws {
        let change = DirectoryChange(event)
        guard try !SQLiteDirectoryRows.write(change, into: .directory, connection), case .remove(let id) = change
        else { return }
        try connection.withStatement("DELETE FROM user_directory WHERE id = ?1") { statement in
            try statement.bind(1, id.uuid)
            _ = try statement.step()
        }
    }
}
