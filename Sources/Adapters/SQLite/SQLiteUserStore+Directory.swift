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
        let low = prefix.lowercased()
        return try await read { connection in
            try connection.withStatement(
                """
                SELECT id, email, display_name, status, version, created_at, updated_at FROM user_directory
                WHERE (email_canonical >= ?1 AND email_canonical < ?2)
                    OR (display_name_folded >= ?1 AND display_name_folded < ?2)
                ORDER BY display_name_folded, id LIMIT ?3
                """
            ) { statement in
                try statement.bind(1, low)
                try statement.bind(2, low + "\u{10FFFF}")
                try statement.bind(3, max(0, limit))
                var entries: [DirectoryEntry] = []
                while try statement.step() {
                    guard let uuid = statement.uuid(0), let status = UserStatus(rawValue: statement.text(3)) else {
                        throw UserStoreError(.corrupt, "A directory row can't be decoded.")
                    }
                    entries.append(
                        DirectoryEntry(
                            id: UserID(uuid), email: statement.text(1), displayName: statement.text(2), status: status,
                            version: Int(statement.int64(4)), createdAt: Date(epochMilliseconds: statement.int64(5)),
                            updatedAt: Date(epochMilliseconds: statement.int64(6))))
                }
                return entries
            }
        }
    }

    /// Counts by status.
    public func directoryStatistics() async throws -> DirectoryStatistics {
        try await read { connection in
            try connection.withStatement(
                """
                SELECT coalesce(sum(status = 'active'), 0), coalesce(sum(status = 'deactivated'), 0)
                FROM user_directory
                """
            ) { statement in
                _ = try statement.step()
                return DirectoryStatistics(active: Int(statement.int64(0)), deactivated: Int(statement.int64(1)))
            }
        }
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
