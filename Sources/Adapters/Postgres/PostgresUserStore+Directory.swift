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
        switch DirectoryChange(event) {
        case .upsert(let entry, let emailCanonical, let displayNameFolded):
            _ = try connection.query(
                """
                INSERT INTO user_directory (id, email, email_canonical, display_name, display_name_folded, status,
                    version, created_at, updated_at)
                VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::integer, to_timestamp($8::int8 / 1000.0),
                    to_timestamp($9::int8 / 1000.0))
                ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_canonical = excluded.email_canonical,
                    display_name = excluded.display_name, display_name_folded = excluded.display_name_folded,
                    status = excluded.status, version = excluded.version, created_at = excluded.created_at,
                    updated_at = excluded.updated_at
                """,
                [
                    entry.id.description, entry.email, emailCanonical, entry.displayName, displayNameFolded,
                    entry.status.rawValue, String(entry.version), String(entry.createdAt.epochMilliseconds),
                    String(entry.updatedAt.epochMilliseconds),
                ])
        case .update(let id, let fields):
            _ = try connection.query(
                """
                UPDATE user_directory SET email = coalesce($2, email), email_canonical = coalesce($3, email_canonical),
                    display_name = coalesce($4, display_name),
                    display_name_folded = coalesce($5, display_name_folded), status = coalesce($6, status),
                    version = $7::integer, updated_at = to_timestamp($8::int8 / 1000.0)
                WHERE id = $1::uuid
                """,
                [
                    id.description, fields.email?.value, fields.email?.canonical, fields.displayName?.value,
                    fields.displayName?.folded, fields.status?.rawValue, String(fields.version),
                    String(fields.updatedAt.epochMilliseconds),
                ])
        case .remove(let id):
            _ = try connection.query("DELETE FROM user_directory WHERE id = $1::uuid", [id.description])
        }
    }
}
