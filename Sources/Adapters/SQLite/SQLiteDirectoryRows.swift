import CSQLite
import Foundation
import UserDomain
import UserPorts

/// The directory's rows, written the same way for the store's projected directory (`user_directory`) and the
/// second service's replica (`replica_users`): one upsert for a registration, one update for a change.
enum SQLiteDirectoryRows {
    /// The tables that hold directory rows (the SQL names them; never user input).
    enum Table: String {
        case directory = "user_directory"
        case replica = "replica_users"

        /// The rows a read shows: the replica's tombstones are not users.
        var shown: String {
            switch self {
            case .directory: "1"
            case .replica: "deleted = 0"
            }
        }
    }

    /// Entries whose e-mail (canonical) or display name (folded) starts with `prefix` ignoring case, by name
    /// then id.
    static func search(
        _ table: Table, prefix: String, limit: Int, _ connection: SQLiteConnection
    ) throws -> [DirectoryEntry] {
        let low = prefix.lowercased()
        return try connection.withStatement(
            """
            SELECT id, email, display_name, status, version, created_at, updated_at FROM \(table.rawValue)
            WHERE \(table.shown) AND ((email_canonical >= ?1 AND email_canonical < ?2)
                OR (display_name_folded >= ?1 AND display_name_folded < ?2))
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

    /// Counts by status of the rows shown.
    static func statistics(_ table: Table, _ connection: SQLiteConnection) throws -> DirectoryStatistics {
        try connection.withStatement(
            """
            SELECT coalesce(sum(status = 'active'), 0), coalesce(sum(status = 'deactivated'), 0)
            FROM \(table.rawValue) WHERE \(table.shown)
            """
        ) { statement in
            _ = try statement.step()
            return DirectoryStatistics(active: Int(statement.int64(0)), deactivated: Int(statement.int64(1)))
        }
    }

    /// Writes a registration or a change; a removal is the caller's (the store deletes the row, the replica
    /// keeps a tombstone).
    ///
    /// - Returns: `false` for ``DirectoryChange/remove(_:)``, which it leaves to the caller.
    static func write(_ change: DirectoryChange, into table: Table, _ connection: SQLiteConnection) throws -> Bool {
        switch change {
        case .upsert(let entry, let emailCanonical, let displayNameFolded):
            try connection.withStatement(
                """
                INSERT INTO \(table.rawValue) (id, email, email_canonical, display_name, display_name_folded, status,
                    version, created_at, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_canonical = excluded.email_canonical,
                    display_name = excluded.display_name, display_name_folded = excluded.display_name_folded,
                    status = excluded.status, version = excluded.version, created_at = excluded.created_at,
                    updated_at = excluded.updated_at
                """
            ) { statement in
                try statement.bind(1, entry.id.uuid)
                try statement.bind(2, entry.email)
                try statement.bind(3, emailCanonical)
                try statement.bind(4, entry.displayName)
                try statement.bind(5, displayNameFolded)
                try statement.bind(6, entry.status.rawValue)
                try statement.bind(7, entry.version)
                try statement.bind(8, entry.createdAt.epochMilliseconds)
                try statement.bind(9, entry.updatedAt.epochMilliseconds)
                _ = try statement.step()
            }
            return true
        case .update(let id, let fields):
            try connection.withStatement(
                """
                UPDATE \(table.rawValue) SET email = coalesce(?2, email),
                    email_canonical = coalesce(?3, email_canonical), display_name = coalesce(?4, display_name),
                    display_name_folded = coalesce(?5, display_name_folded), status = coalesce(?6, status),
                    version = ?7, updated_at = ?8
                WHERE id = ?1
                """
            ) { statement in
                func bind(_ index: Int32, _ value: String?) throws {
                    if let value { try statement.bind(index, value) } else { try statement.bindNull(index) }
                }
                try statement.bind(1, id.uuid)
                try bind(2, fields.email?.value)
                try bind(3, fields.email?.canonical)
                try bind(4, fields.displayName?.value)
                try bind(5, fields.displayName?.folded)
                try bind(6, fields.status?.rawValue)
                try statement.bind(7, fields.version)
                try statement.bind(8, fields.updatedAt.epochMilliseconds)
                _ = try statement.step()
            }
            return true
        case .remove:
            return false
        }
    }
}
