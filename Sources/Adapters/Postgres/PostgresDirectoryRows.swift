import Foundation
import UserDomain
import UserPorts

/// The directory's rows in PostgreSQL, for the two tables that hold them: the store's read model
/// (`user_directory`, every row shown) and a replica's (`replica_users`, tombstones of deleted users hidden).
/// One query text for both, so that a prefix finds the same users in each.
enum PostgresDirectoryRows {
    enum Table: String {
        case directory = "user_directory"
        case replica = "replica_users"

        /// The condition of the rows a query shows.
        var shown: String {
            switch self {
            case .directory: "true"
            case .replica: "NOT deleted"
            }
        }
    }

    /// Entries whose e-mail or display name starts with `prefix`, ignoring case, by display name then id.
    static func search(_ table: Table, prefix: String, limit: Int, _ connection: PostgresConnection) throws
        -> [DirectoryEntry]
    {
        let low = prefix.lowercased()
        let result = try connection.query(
            """
            SELECT id::text, email, display_name, status, version, (extract(epoch FROM created_at) * 1000)::int8,
                (extract(epoch FROM updated_at) * 1000)::int8
            FROM \(table.rawValue)
            WHERE \(table.shown) AND ((email_canonical COLLATE "C" >= $1 AND email_canonical COLLATE "C" < $2)
                OR (display_name_folded COLLATE "C" >= $1 AND display_name_folded COLLATE "C" < $2))
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

    /// Counts by status of the rows shown.
    static func statistics(_ table: Table, _ connection: PostgresConnection) throws -> DirectoryStatistics {
        let result = try connection.query(
            """
            SELECT count(*) FILTER (WHERE status = 'active'), count(*) FILTER (WHERE status = 'deactivated')
            FROM \(table.rawValue) WHERE \(table.shown)
            """)
        return DirectoryStatistics(active: Int(result.int64(0, 0)), deactivated: Int(result.int64(0, 1)))
    }

    /// Writes a change. A registration that meets a row of its id replaces it in the store's directory (a
    /// projection applies each position once, so only a rebuild's replay meets one); in a replica it leaves
    /// the row as it is and returns `false`: another applier registered the user first. A removal returns
    /// `false` and writes nothing: the caller deletes the row or keeps a tombstone.
    private static let replaceRow = """
        DO UPDATE SET email = excluded.email, email_canonical = excluded.email_canonical,
            display_name = excluded.display_name, display_name_folded = excluded.display_name_folded,
            status = excluded.status, version = excluded.version, created_at = excluded.created_at,
            updated_at = excluded.updated_at
        """

    static func write(_ change: DirectoryChange, into table: Table, _ connection: PostgresConnection) throws -> Bool {
        switch change {
        case .upsert(let entry, let emailCanonical, let displayNameFolded):
            return try connection.query(
                """
                INSERT INTO \(table.rawValue) (id, email, email_canonical, display_name, display_name_folded, status,
                    version, created_at, updated_at)
                VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::integer, to_timestamp($8::int8 / 1000.0),
                    to_timestamp($9::int8 / 1000.0))
                ON CONFLICT (id) \(table == .directory ? Self.replaceRow : "DO NOTHING")
                """,
                [
                    entry.id.description, entry.email, emailCanonical, entry.displayName, displayNameFolded,
                    entry.status.rawValue, String(entry.version), String(entry.createdAt.epochMilliseconds),
                    String(entry.updatedAt.epochMilliseconds),
                ]
            ).affectedRows == 1
        case .update(let id, let fields):
            _ = try connection.query(
                """
                UPDATE \(table.rawValue) SET email = coalesce($2, email),
                    email_canonical = coalesce($3, email_canonical), display_name = coalesce($4, display_name),
                    display_name_folded = coalesce($5, display_name_folded), status = coalesce($6, status),
                    version = $7::integer, updated_at = to_timestamp($8::int8 / 1000.0)
                WHERE id = $1::uuid
                """,
                [
                    id.description, fields.email?.value, fields.email?.canonical, fields.displayName?.value,
                    fields.displayName?.folded, fields.status?.rawValue, String(fields.version),
                    String(fields.updatedAt.epochMilliseconds),
                ])
            return true
        case .remove:
            return false
        }
    }
}
