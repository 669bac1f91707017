import CSQLite
public import Foundation
import Logging
import UserDomain
import UserAdapterSupport
public import UserPorts

/// ``EventHistory``: the event log and its retention.
extension SQLiteUserStore {
    /// The history after `position`, in position order. SQLite commits one writer at a time and assigns
    /// positions inside the write lock, so the log never has a gap that a later commit fills.
    public func events(after position: EventPosition?, limit: Int) async throws -> [OutboxEvent] {
        try await read { connection in
            try connection.withStatement(
                "SELECT \(Self.eventColumns) FROM user_events WHERE position > ?1 ORDER BY position LIMIT ?2"
            ) { statement in
                try statement.bind(1, position?.rawValue ?? 0)
                try statement.bind(2, max(0, limit))
                return try Self.decodeEvents(statement)
            }
        }
    }

    /// Pending and dead counts.
    public func outboxStatus() async throws -> OutboxStatus {
        try await read { connection in
            try connection.withStatement(
                """
                SELECT coalesce(sum(dead = 0), 0), min(CASE WHEN dead = 0 THEN occurred_at END), coalesce(sum(dead), 0)
                FROM (
                    SELECT dead, occurred_at FROM user_events
                    WHERE position > (SELECT position FROM outbox_watermark) AND published_at IS NULL AND behind = 0
                    UNION ALL
                    SELECT dead, occurred_at FROM user_events WHERE published_at IS NULL AND behind = 1
                )
                """
            ) { statement in
                _ = try statement.step()
                return OutboxStatus(
                    pendingCount: Int(statement.int64(0)),
                    oldestPendingAt: statement.isNull(1) ? nil : Date(epochMilliseconds: statement.int64(1)),
                    deadCount: Int(statement.int64(2)))
            }
        }
    }

    /// The highest position retention deleted (noted by ``deletePublishedEvents(before:)``), or `nil`.
    public func trimmedThrough() async throws -> EventPosition? {
        try await shortRead { connection in
            try connection.withStatement(
                "SELECT position FROM projection_checkpoints WHERE name = '\(StoreConventions.trimmedHistoryMarker)'"
            ) { statement in try statement.step() ? EventPosition(rawValue: statement.int64(0)) : nil }
        }
    }

    /// Deletes published events that occurred before `date`, and notes that the history was trimmed.
    @discardableResult
    public func deletePublishedEvents(before date: Date) async throws -> Int {
        try await write { connection in
            try connection.writeTransaction {
                try connection.withStatement(
                    """
                    INSERT INTO projection_checkpoints (name, position)
                    SELECT '\(StoreConventions.trimmedHistoryMarker)', max(position) FROM user_events
                    WHERE published_at IS NOT NULL AND occurred_at < ?1
                        AND position < (SELECT max(position) FROM user_events)
                    HAVING count(*) > 0
                    ON CONFLICT (name) DO UPDATE SET position = max(position, excluded.position)
                    """
                ) { statement in
                    try statement.bind(1, date.epochMilliseconds)
                    _ = try statement.step()
                }
                // The newest event is always kept, so that its position is never handed out again.
                try connection.withStatement(
                    """
                    DELETE FROM user_events WHERE published_at IS NOT NULL AND occurred_at < ?1
                        AND position < (SELECT max(position) FROM user_events)
                    """
                ) { statement in
                    try statement.bind(1, date.epochMilliseconds)
                    _ = try statement.step()
                }
                return connection.changes
            }
        }
    }
}
