import Foundation
import UserDomain
import UserPorts

/// A directory replica's rows in PostgreSQL (`replica_users`, tombstones of deleted users hidden): the search,
/// the counts, the rows of a batch's users as stored and their writing back (the version rule between them is
/// `ReplicaBatch`'s).
enum PostgresDirectoryRows {
    /// Entries whose e-mail or display name starts with `prefix`, ignoring case, by display name then id.
    static func search(prefix: String, limit: Int, _ connection: PostgresConnection) throws
        -> [DirectoryEntry]
    {
        let low = prefix.lowercased()
        let result = try connection.query(
            """
            SELECT id::text, email, display_name, status, version, (extract(epoch FROM created_at) * 1000)::int8,
                (extract(epoch FROM updated_at) * 1000)::int8
            FROM replica_users
            WHERE NOT deleted AND ((email_canonical COLLATE "C" >= $1 AND email_canonical COLLATE "C" < $2)
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

    /// Counts by status of the rows shown: the counters each apply moves (a count of the rows read every row:
    /// 590–711 counts a second at 20,000 users in `Benchmarks/replica.sh`).
    static func statistics(_ connection: PostgresConnection) throws -> DirectoryStatistics {
        let result = try connection.query(
            """
            SELECT coalesce(sum(value) FILTER (WHERE name = 'active'), 0)::int8,
                coalesce(sum(value) FILTER (WHERE name = 'deactivated'), 0)::int8
            FROM replica_state WHERE name IN ('active', 'deactivated')
            """)
        return DirectoryStatistics(active: Int(result.int64(0, 0)), deactivated: Int(result.int64(0, 1)))
    }

    /// Moves the counters by a batch's change of the counts and the backfill position (never backwards) to
    /// `position`, in one statement of the batch's transaction; nothing when neither moves. The rows are locked
    /// first, by name (`ORDER BY name FOR UPDATE`, materialized), so that appliers that both move them wait for
    /// each other and never deadlock: an `UPDATE` alone locks in the order it finds the rows, which another
    /// transaction's update can change.
    static func moveState(_ counts: DirectoryStatistics, position: EventPosition?, _ connection: PostgresConnection)
        throws
    {
        // Only the rows that move: a batch of renames locks none, a delivery batch no position.
        var moving: [String] = []
        if counts.active != 0 { moving.append("active") }
        if position != nil { moving.append("backfill_position") }
        if counts.deactivated != 0 { moving.append("deactivated") }
        guard !moving.isEmpty else { return }
        try connection.query(
            """
            WITH locked AS MATERIALIZED (
                SELECT name FROM replica_state WHERE name = ANY($4::text[]) ORDER BY name FOR UPDATE)
            UPDATE replica_state SET value = CASE replica_state.name
                WHEN 'backfill_position' THEN greatest(value, $3::int8)
                WHEN 'active' THEN value + $1::int8
                ELSE value + $2::int8 END
            FROM locked WHERE replica_state.name = locked.name
            """,
            [
                String(counts.active), String(counts.deactivated), String(position?.rawValue ?? 0),
                PostgresArray.literal(moving),
            ])
    }

    /// The counters of the rows shown, counted once from the rows: a replica database's version 2, a user
    /// store's 7.
    static let counters = """
        INSERT INTO replica_state (name, value)
            SELECT 'active', count(*) FROM replica_users WHERE NOT deleted AND status = 'active'
            ON CONFLICT (name) DO UPDATE SET value = excluded.value;
        INSERT INTO replica_state (name, value)
            SELECT 'deactivated', count(*) FROM replica_users WHERE NOT deleted AND status = 'deactivated'
            ON CONFLICT (name) DO UPDATE SET value = excluded.value;
        """

    /// The rows of `ids` (tombstones included) as stored, in one round trip.
    static func rows(_ ids: Set<UserID>, _ connection: PostgresConnection) throws -> [UserID: ReplicaRow] {
        guard !ids.isEmpty else { return [:] }
        let result = try connection.query(
            """
            SELECT id::text, email, email_canonical, display_name, display_name_folded, status, version,
                (extract(epoch FROM created_at) * 1000)::int8, (extract(epoch FROM updated_at) * 1000)::int8, deleted
            FROM replica_users WHERE id = ANY($1::uuid[])
            """, [PostgresArray.literal(ids.map(\.description))])
        var rows: [UserID: ReplicaRow] = [:]
        for row in 0..<result.rowCount {
            guard let id = UserID(result.string(row, 0)), let status = UserStatus(rawValue: result.string(row, 5))
            else { throw UserStoreError(.corrupt, "A directory row can't be decoded.") }
            rows[id] = ReplicaRow(
                entry: DirectoryEntry(
                    id: id, email: result.string(row, 1), displayName: result.string(row, 3), status: status,
                    version: Int(result.int64(row, 6)), createdAt: Date(epochMilliseconds: result.int64(row, 7)),
                    updatedAt: Date(epochMilliseconds: result.int64(row, 8))),
                emailCanonical: result.string(row, 2), displayNameFolded: result.string(row, 4),
                deleted: result.string(row, 9) == "t")
        }
        return rows
    }

    /// Writes rows as they are (inserted, or replacing the stored ones), all in one statement: one round trip
    /// for a batch, where a statement per event made the projection wait on the network for each.
    static func write(_ rows: [ReplicaRow], _ connection: PostgresConnection) throws {
        guard !rows.isEmpty else { return }
        func column(_ value: (ReplicaRow) -> String) -> String? { PostgresArray.literal(rows.map(value)) }
        try connection.query(
            """
            INSERT INTO replica_users (id, email, email_canonical, display_name, display_name_folded, status,
                version, created_at, updated_at, deleted)
            SELECT id, email, email_canonical, display_name, display_name_folded, status, version,
                to_timestamp(created_ms / 1000.0), to_timestamp(updated_ms / 1000.0), deleted
            FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::integer[],
                $8::int8[], $9::int8[], $10::boolean[])
                AS batch(id, email, email_canonical, display_name, display_name_folded, status, version, created_ms,
                    updated_ms, deleted)
            ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_canonical = excluded.email_canonical,
                display_name = excluded.display_name, display_name_folded = excluded.display_name_folded,
                status = excluded.status, version = excluded.version, created_at = excluded.created_at,
                updated_at = excluded.updated_at, deleted = excluded.deleted
            """,
            [
                column { $0.entry.id.description }, column(\.entry.email), column(\.emailCanonical),
                column(\.entry.displayName), column(\.displayNameFolded), column(\.entry.status.rawValue),
                column { String($0.entry.version) }, column { String($0.entry.createdAt.epochMilliseconds) },
                column { String($0.entry.updatedAt.epochMilliseconds) }, column { $0.deleted ? "true" : "false" },
            ])
    }
}
