import CSQLite
import Foundation
import Logging
import UserDomain
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
                    "SELECT 1 FROM projection_checkpoints WHERE name = '\(Self.trimmedMarker)'"
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
        let id = event.userID.uuid
        let version = event.userVersion
        let at = event.occurredAt.epochMilliseconds
        switch event.event {
        case .registered(let email, let displayName):
            try connection.withStatement(
                """
                INSERT INTO user_directory (id, email, email_canonical, display_name, display_name_folded, status,
                    version, created_at, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?7, ?7)
                ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_canonical = excluded.email_canonical,
                    display_name = excluded.display_name, display_name_folded = excluded.display_name_folded,
                    status = excluded.status, version = excluded.version, created_at = excluded.created_at,
                    updated_at = excluded.updated_at
                """
            ) { statement in
                try statement.bind(1, id)
                try statement.bind(2, email.value)
                try statement.bind(3, email.canonical)
                try statement.bind(4, displayName.value)
                try statement.bind(5, displayName.value.lowercased())
                try statement.bind(6, version)
                try statement.bind(7, at)
                _ = try statement.step()
            }
        case .renamed(let displayName, _):
            try connection.withStatement(
                """
                UPDATE user_directory SET display_name = ?2, display_name_folded = ?3, version = ?4, updated_at = ?5
                WHERE id = ?1
                """
            ) { statement in
                try statement.bind(1, id)
                try statement.bind(2, displayName.value)
                try statement.bind(3, displayName.value.lowercased())
                try statement.bind(4, version)
                try statement.bind(5, at)
                _ = try statement.step()
            }
        case .emailChanged(let email, _):
            try connection.withStatement(
                """
                UPDATE user_directory SET email = ?2, email_canonical = ?3, version = ?4, updated_at = ?5
                WHERE id = ?1
                """
            ) { statement in
                try statement.bind(1, id)
                try statement.bind(2, email.value)
                try statement.bind(3, email.canonical)
                try statement.bind(4, version)
                try statement.bind(5, at)
                _ = try statement.step()
            }
        case .deactivated, .reactivated:
            try connection.withStatement(
                "UPDATE user_directory SET status = ?2, version = ?3, updated_at = ?4 WHERE id = ?1"
            ) { statement in
                try statement.bind(1, id)
                try statement.bind(2, event.event == .deactivated ? "deactivated" : "active")
                try statement.bind(3, version)
                try statement.bind(4, at)
                _ = try statement.step()
            }
        case .deleted:
            try connection.withStatement("DELETE FROM user_directory WHERE id = ?1") { statement in
                try statement.bind(1, id)
                _ = try statement.step()
            }
        }
    }
}
