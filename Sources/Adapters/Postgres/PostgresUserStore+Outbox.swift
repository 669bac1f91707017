import CLibPQ
public import Foundation
import Logging
import UserDomain
public import UserPorts

/// ``OutboxDelivery`` and ``DeadLetters``: the events due for publishing and their delivery state.
extension PostgresUserStore {
    static let eventColumns = "position, payload::text, attempts, last_error"

    /// Events due for publishing, in position order, at most `limit`; a dead or waiting event holds back
    /// its user's later events.
    public func unpublishedEvents(limit: Int) async throws -> [OutboxEvent] {
        try await read { connection in
            try Self.decodeEvents(
                try connection.query(
                    """
                    SELECT \(Self.eventColumns) FROM user_events AS e
                    WHERE published_at IS NULL AND NOT dead AND (retry_at IS NULL OR retry_at <= now())
                        AND NOT EXISTS (
                            SELECT 1 FROM user_events AS b
                            WHERE b.user_id = e.user_id AND b.published_at IS NULL AND b.position < e.position
                                AND (b.dead OR b.retry_at > now()))
                    ORDER BY position LIMIT $1::integer
                    """, [String(max(0, limit))]))
        }
    }

    /// Marks events published; unknown and already published positions are ignored.
    public func markPublished(_ positions: [EventPosition]) async throws {
        guard !positions.isEmpty else { return }
        try await withConnection { connection in
            _ = try connection.query(
                "UPDATE user_events SET published_at = now() WHERE position = ANY($1::int8[]) AND published_at IS NULL",
                [PostgresArray.literal(positions.map { String($0.rawValue) })])
        }
    }

    /// Records a failed attempt; without `retryAt` the event is parked as dead.
    public func markFailed(_ position: EventPosition, reason: String, retryAt: Date?) async throws {
        try await withConnection { connection in
            _ = try connection.query(
                """
                UPDATE user_events SET attempts = attempts + 1, last_error = $2,
                    retry_at = to_timestamp($3::int8 / 1000.0), dead = $3 IS NULL
                WHERE position = $1::int8 AND published_at IS NULL
                """, [String(position.rawValue), reason, retryAt.map { String($0.epochMilliseconds) }])
        }
    }

    /// Dead events in position order, at most `limit`.
    public func deadEvents(limit: Int) async throws -> [OutboxEvent] {
        try await read { connection in
            try Self.decodeEvents(
                try connection.query(
                    """
                    SELECT \(Self.eventColumns) FROM user_events WHERE published_at IS NULL AND dead
                    ORDER BY position LIMIT $1::integer
                    """, [String(max(0, limit))]))
        }
    }

    /// Makes dead events due again, attempts reset.
    @discardableResult
    public func retryDeadEvents(_ positions: [EventPosition]?) async throws -> Int {
        let count = try await withConnection { connection in
            try connection.query(
                """
                UPDATE user_events SET dead = false, attempts = 0, retry_at = NULL, last_error = NULL
                WHERE published_at IS NULL AND dead AND ($1::int8[] IS NULL OR position = ANY($1::int8[]))
                """, [positions.map { PostgresArray.literal($0.map { String($0.rawValue) }) }]
            ).affectedRows
        }
        if count > 0 { commitSignal.signal() }
        return count
    }

    static func decodeEvents(_ result: PostgresResult) throws -> [OutboxEvent] {
        try (0..<result.rowCount).map { row in
            let position = EventPosition(rawValue: result.int64(row, 0))
            guard let envelope = try? UserEventEnvelope(jsonData: Data(result.string(row, 1).utf8)) else {
                throw UserStoreError(.corrupt, "The event at position \(position) can't be decoded.")
            }
            return OutboxEvent(
                position: position, envelope: envelope, attempts: Int(result.int64(row, 2)),
                lastError: result.isNull(row, 3) ? nil : result.string(row, 3))
        }
    }
}
