import CSQLite
import Foundation
import UserDomain
import UserPorts

/// A directory replica's rows (`replica_users`): the search, the counts, the rows of a batch's users as stored and
/// their writing back (the version rule between them is `ReplicaBatch`'s).
enum SQLiteDirectoryRows {
    /// Entries whose e-mail (canonical) or display name (folded) starts with `prefix` ignoring case, by name
    /// then id.
    static func search(
        prefix: String, limit: Int, _ connection: SQLiteConnection
    ) throws -> [DirectoryEntry] {
        let low = prefix.lowercased()
        return try connection.withStatement(
            """
            SELECT id, email, display_name, status, version, created_at, updated_at FROM replica_users
            WHERE deleted = 0 AND ((email_canonical >= ?1 AND email_canonical < ?2)
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

    /// Counts by status of the rows shown: the counters each apply moves (a count of the rows read every row's
    /// status: 58 counts a second at 20,000 users in `Benchmarks/replica.sh`).
    static func statistics(_ connection: SQLiteConnection) throws -> DirectoryStatistics {
        try connection.withStatement(
            """
            SELECT coalesce(sum(value) FILTER (WHERE name = 'active'), 0),
                coalesce(sum(value) FILTER (WHERE name = 'deactivated'), 0)
            FROM replica_state WHERE name IN ('active', 'deactivated')
            """
        ) { statement in
            _ = try statement.step()
            return DirectoryStatistics(active: Int(statement.int64(0)), deactivated: Int(statement.int64(1)))
        }
    }

    /// Moves the counters by a batch's change of the counts, in its transaction.
    static func count(_ change: DirectoryStatistics, _ connection: SQLiteConnection) throws {
        for (name, delta) in [("active", change.active), ("deactivated", change.deactivated)] where delta != 0 {
            try connection.withStatement("UPDATE replica_state SET value = value + ?1 WHERE name = ?2") { statement in
                try statement.bind(1, delta)
                try statement.bind(2, name)
                _ = try statement.step()
            }
        }
    }

    /// The counters of the rows shown, counted once from the rows: a replica's schema version 2, a user store's 6.
    static let counters = """
        INSERT INTO replica_state (name, value)
            SELECT 'active', count(*) FROM replica_users WHERE deleted = 0 AND status = 'active'
            ON CONFLICT (name) DO UPDATE SET value = excluded.value;
        INSERT INTO replica_state (name, value)
            SELECT 'deactivated', count(*) FROM replica_users WHERE deleted = 0 AND status = 'deactivated'
            ON CONFLICT (name) DO UPDATE SET value = excluded.value;
        """

    /// The rows of `ids` (tombstones included) as stored.
    static func rows(_ ids: Set<UserID>, _ connection: SQLiteConnection) throws -> [UserID: ReplicaRow] {
        try connection.withStatement(
            """
            SELECT email, email_canonical, display_name, display_name_folded, status, version, created_at, updated_at,
                deleted
            FROM replica_users WHERE id = ?1
            """
        ) { statement in
            var rows: [UserID: ReplicaRow] = [:]
            for id in ids {
                statement.reset()
                try statement.bind(1, id.uuid)
                guard try statement.step() else { continue }
                guard let status = UserStatus(rawValue: statement.text(4)) else {
                    throw UserStoreError(.corrupt, "A directory row can't be decoded.")
                }
                rows[id] = ReplicaRow(
                    entry: DirectoryEntry(
                        id: id, email: statement.text(0), displayName: statement.text(2), status: status,
                        version: Int(statement.int64(5)), createdAt: Date(epochMilliseconds: statement.int64(6)),
                        updatedAt: Date(epochMilliseconds: statement.int64(7))),
                    emailCanonical: statement.text(1), displayNameFolded: statement.text(3),
                    deleted: statement.int64(8) != 0)
            }
            return rows
        }
    }

    /// Writes rows as they are (inserted, or replacing the stored ones).
    static func write(_ rows: [ReplicaRow], _ connection: SQLiteConnection) throws {
        try connection.withStatement(
            """
            INSERT INTO replica_users (id, email, email_canonical, display_name, display_name_folded, status,
                version, created_at, updated_at, deleted)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
            ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_canonical = excluded.email_canonical,
                display_name = excluded.display_name, display_name_folded = excluded.display_name_folded,
                status = excluded.status, version = excluded.version, created_at = excluded.created_at,
                updated_at = excluded.updated_at, deleted = excluded.deleted
            """
        ) { statement in
            for row in rows {
                statement.reset()
                try statement.bind(1, row.entry.id.uuid)
                try statement.bind(2, row.entry.email)
                try statement.bind(3, row.emailCanonical)
                try statement.bind(4, row.entry.displayName)
                try statement.bind(5, row.displayNameFolded)
                try statement.bind(6, row.entry.status.rawValue)
                try statement.bind(7, row.entry.version)
                try statement.bind(8, row.entry.createdAt.epochMilliseconds)
                try statement.bind(9, row.entry.updatedAt.epochMilliseconds)
                try statement.bind(10, row.deleted ? 1 : 0)
                _ = try statement.step()
            }
        }
    }
}
