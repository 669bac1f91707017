import CLibPQ
import Foundation
import Logging
import UserDomain
public import UserPorts

/// ``UserDirectory``: the read model, kept in the same database as the users it shows.
extension PostgresUserStore {
    /// Entries whose e-mail or display name starts with `prefix`, ignoring case.
    public func searchDirectory(prefix: String, limit: Int) async throws -> [DirectoryEntry] {
        let low = prefix.lowercased()
        return try await read { connection in
            let result = try connection.query(
                """
                SELECT id::text, email, display_name, status, version, (extract(epoch FROM created_at) * 1000)::int8,
                    (extract(epoch FROM updated_at) * 1000)::int8
                FROM user_directory
                WHERE (email_canonical COLLATE "C" >= $1 AND email_canonical COLLATE "C" < $2)
                    OR (display_name_folded COLLATE "C" >= $1 AND display_name_folded COLLATE "C" < $2)
                ORDER BY display_name_folded COLLATE "C", id LIMIT $3::integer
                """, [low, low + "\u{10FFFF}", String(max(0, limit))])
            return try (0..<result.rowCount).map { row in
                guard let id = UserID(result.string(row, 0)), let status = UserStatus(rawValue: result.string(row, 3))
                else { throw UserStoreError(.corrupt, "A directory row can't be decoded.") }
                return DirectoryEntry(
                    id: id, email: result.string(row, 1), displayName: result.string(row, 2), status: status,
                    version: Int(result.int64(row, 4)), createdAt: Date(epochMilliseconds: result.int64(row, 5)),
                    updatedAt: Date(epochMilliseconds: result.int64(row, 6)))
            }
        }
    }

    /// Counts by status.
    public func directoryStatistics() async throws -> DirectoryStatistics {
        try await read { connection in
            let result = try connection.query(
                """
                SELECT count(*) FILTER (WHERE status = 'active'), count(*) FILTER (WHERE status = 'deactivated')
                FROM user_directory
                """)
            return DirectoryStatistics(active: Int(result.int64(0, 0)), deactivated: Int(result.int64(0, 1)))
        }
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
                    "SELECT 1 FROM projection_checkpoints WHERE name = '\(Self.trimmedMarker)'"
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
        let id = event.userID.description
        let version = String(event.userVersion)
        let at = String(event.occurredAt.epochMilliseconds)
        switch event.event {
        case .registered(let email, let displayName):
            _ = try connection.query(
                """
                INSERT INTO user_directory (id, email, email_canonical, display_name, display_name_folded, status,
                    version, created_at, updated_at)
                VALUES ($1::uuid, $2, $3, $4, $5, 'active', $6::integer, to_timestamp($7::int8 / 1000.0),
                    to_timestamp($7::int8 / 1000.0))
                ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_canonical = excluded.email_canonical,
                    display_name = excluded.display_name, display_name_folded = excluded.display_name_folded,
                    status = excluded.status, version = excluded.version, created_at = excluded.created_at,
                    updated_at = excluded.updated_at
                """,
                [id, email.value, email.canonical, displayName.value, displayName.value.lowercased(), version, at])
        case .renamed(let displayName, _):
            _ = try connection.query(
                """
                UPDATE user_directory SET display_name = $2, display_name_folded = $3, version = $4::integer,
                    updated_at = to_timestamp($5::int8 / 1000.0)
                WHERE id = $1::uuid
                """, [id, displayName.value, displayName.value.lowercased(), version, at])
        case .emailChanged(let email, _):
            _ = try connection.query(
                """
                UPDATE user_directory SET email = $2, email_canonical = $3, version = $4::integer,
                    updated_at = to_timestamp($5::int8 / 1000.0)
                WHERE id = $1::uuid
                """, [id, email.value, email.canonical, version, at])
        case .deactivated, .reactivated:
            _ = try connection.query(
                """
                UPDATE user_directory SET status = $2, version = $3::integer, updated_at = to_timestamp($4::int8 / 1000.0)
                WHERE id = $1::uuid
                """, [id, event.event == .deactivated ? "deactivated" : "active", version, at])
        case .deleted:
            _ = try connection.query("DELETE FROM user_directory WHERE id = $1::uuid", [id])
        }
    }
}
