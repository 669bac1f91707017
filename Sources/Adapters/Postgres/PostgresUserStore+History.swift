import CLibPQ
public import Foundation
import Logging
import UserDomain
import UserAdapterSupport
public import UserPorts

/// ``EventHistory``: the event log up to its horizon, and its retention.
extension PostgresUserStore {
    /// The history after `position`, in position order, up to the horizon below which every writer has
    /// finished: a transaction that drew a lower position and commits later is waited for, never skipped.
    public func events(after position: EventPosition?, limit: Int) async throws -> [OutboxEvent] {
        try await read { connection in
            let horizon = try connection.query("SELECT user_events_horizon()").int64(0, 0)
            return try Self.decodeEvents(
                try connection.query(
                    """
                    SELECT \(Self.eventColumns) FROM user_events WHERE position > $1::int8 AND position <= $2::int8
                    ORDER BY position LIMIT $3::integer
                    """, [String(position?.rawValue ?? 0), String(horizon), String(max(0, limit))]))
        }
    }

    /// Pending and dead counts.
    public func outboxStatus() async throws -> OutboxStatus {
        try await read { connection in
            let result = try connection.query(
                """
                SELECT count(*) FILTER (WHERE NOT dead),
                    (extract(epoch FROM min(occurred_at) FILTER (WHERE NOT dead)) * 1000)::int8,
                    count(*) FILTER (WHERE dead)
                FROM user_events WHERE published_at IS NULL
                """)
            return OutboxStatus(
                pendingCount: Int(result.int64(0, 0)),
                oldestPendingAt: result.isNull(0, 1) ? nil : Date(epochMilliseconds: result.int64(0, 1)),
                deadCount: Int(result.int64(0, 2)))
        }
    }

    /// The highest position retention deleted (noted by ``deletePublishedEvents(before:)``), or `nil`.
    public func trimmedThrough() async throws -> EventPosition? {
        try await withConnection { connection in
            let result = try connection.query(
                "SELECT position FROM projection_checkpoints WHERE name = '\(StoreConventions.trimmedHistoryMarker)'")
            return result.rowCount == 1 ? EventPosition(rawValue: result.int64(0, 0)) : nil
        }
    }

    /// Deletes published events that occurred before `date`, and notes that the history was trimmed.
    @discardableResult
    public func deletePublishedEvents(before date: Date) async throws -> Int {
        try await transaction { connection in
            let cutoff = String(date.epochMilliseconds)
            _ = try connection.query(
                """
                INSERT INTO projection_checkpoints (name, position)
                SELECT '\(StoreConventions.trimmedHistoryMarker)', max(position) FROM user_events
                WHERE published_at IS NOT NULL AND occurred_at < to_timestamp($1::int8 / 1000.0)
                    AND position < (SELECT max(position) FROM user_events)
                HAVING count(*) > 0
                ON CONFLICT (name) DO UPDATE
                    SET position = greatest(projection_checkpoints.position, excluded.position)
                """, [cutoff])
            return try connection.query(
                """
                DELETE FROM user_events WHERE published_at IS NOT NULL AND occurred_at < to_timestamp($1::int8 / 1000.0)
                    AND position < (SELECT max(position) FROM user_events)
                """, [cutoff]
            ).affectedRows
        }
    }
}
