import CSQLite
public import Foundation
import Logging
import UserDomain
public import UserPorts

/// ``OutboxDelivery`` and ``DeadLetters``: the events due for publishing (above a watermark, and the few
/// left behind it) and their delivery state.
extension SQLiteUserStore {
    static let eventColumns = "position, payload, attempts, last_error"

    /// Events due for publishing, in position order, at most `limit`; a dead or waiting event holds back
    /// its user's later events.
    ///
    /// No index lists every unpublished event (appending one would write into it): the pending events are
    /// those above the outbox watermark, in rowid order, merged with the few left `behind` it (failed,
    /// revived, or held back by their user), which have a partial index. The held-back users are tracked
    /// here, in the order of the merged scan.
    public func unpublishedEvents(limit: Int) async throws -> [OutboxEvent] {
        let now = Date().epochMilliseconds
        return try await read { connection in
            try connection.withStatement(
                """
                SELECT \(Self.eventColumns), user_id, dead, retry_at FROM user_events
                WHERE position > (SELECT position FROM outbox_watermark) AND published_at IS NULL AND behind = 0
                UNION ALL
                SELECT \(Self.eventColumns), user_id, dead, retry_at FROM user_events
                WHERE published_at IS NULL AND behind = 1
                ORDER BY 1
                """
            ) { statement in
                var events: [OutboxEvent] = []
                var held: Set<UUID> = []
                while events.count < max(0, limit), try statement.step() {
                    guard let user = statement.uuid(4) else { continue }
                    if held.contains(user) { continue }
                    if statement.int64(5) == 1 || (!statement.isNull(6) && statement.int64(6) > now) {
                        held.insert(user)
                        continue
                    }
                    events.append(try Self.decodeEvent(statement))
                }
                return events
            }
        }
    }

    /// Marks events published (unknown and already published positions are ignored), then moves the
    /// outbox watermark up.
    public func markPublished(_ positions: [EventPosition]) async throws {
        guard !positions.isEmpty else { return }
        let now = Date().epochMilliseconds
        // A relay's batch is mostly one run of consecutive positions: one statement per run, not per event
        // (marking in a 50,000-event drain, relay-bench: 0.26 s before, 0.22 s after; the commit, not the
        // statements, is most of it).
        let runs = Self.consecutiveRuns(positions.map(\.rawValue))
        try await write { connection in
            try connection.writeTransaction {
                try connection.withStatement(
                    """
                    UPDATE user_events SET published_at = ?3
                    WHERE position BETWEEN ?1 AND ?2 AND published_at IS NULL
                    """
                ) { statement in
                    for run in runs {
                        try statement.bind(1, run.lowerBound)
                        try statement.bind(2, run.upperBound)
                        try statement.bind(3, now)
                        _ = try statement.step()
                        statement.reset()
                    }
                }
                try Self.advanceWatermark(connection)
            }
        }
    }

    /// The values as closed ranges of consecutive integers, ascending: `[5, 3, 4, 9]` gives `[3...5, 9...9]`.
    static func consecutiveRuns(_ values: [Int64]) -> [ClosedRange<Int64>] {
        var runs: [ClosedRange<Int64>] = []
        for value in values.sorted() {
            if let last = runs.last, value <= last.upperBound + 1 {
                runs[runs.count - 1] = last.lowerBound...max(last.upperBound, value)
            } else {
                runs.append(value...value)
            }
        }
        return runs
    }

    /// Moves the outbox watermark past published events and past events held back by an earlier event of
    /// their user that is itself behind (those are marked `behind`, so that they stay in view); it stops
    /// below the first event still due in order. The scan starts at the watermark, so it reads about as
    /// many rows as were published since.
    static func advanceWatermark(_ connection: SQLiteConnection) throws {
        var watermark = try connection.withStatement("SELECT position FROM outbox_watermark") { statement in
            try statement.step() ? statement.int64(0) : 0
        }
        let next = try connection.statement(
            """
            SELECT position, user_id FROM user_events
            WHERE position > ?1 AND published_at IS NULL AND behind = 0 ORDER BY position LIMIT 1
            """)
        let heldBack = try connection.statement(
            """
            SELECT 1 FROM user_events INDEXED BY user_events_behind_by_user
            WHERE user_id = ?1 AND position < ?2 AND published_at IS NULL AND behind = 1
            """)
        let markBehind = try connection.statement("UPDATE user_events SET behind = 1 WHERE position = ?1")
        while true {
            defer { next.reset() }
            try next.bind(1, watermark)
            guard try next.step() else {
                watermark = try connection.withStatement("SELECT max(position) FROM user_events") { statement in
                    try statement.step() && !statement.isNull(0) ? max(watermark, statement.int64(0)) : watermark
                }
                break
            }
            let position = next.int64(0)
            guard let user = next.uuid(1) else { throw UserStoreError(.corrupt, "A stored event has no user id.") }
            let isHeldBack = try {
                defer { heldBack.reset() }
                try heldBack.bind(1, user)
                try heldBack.bind(2, position)
                return try heldBack.step()
            }()
            guard isHeldBack else {
                watermark = position - 1
                break
            }
            defer { markBehind.reset() }
            try markBehind.bind(1, position)
            _ = try markBehind.step()
            watermark = position
        }
        try connection.withStatement("UPDATE outbox_watermark SET position = ?1 WHERE position <> ?1") { statement in
            try statement.bind(1, watermark)
            _ = try statement.step()
        }
    }

    /// Records a failed attempt; without `retryAt` the event is parked as dead.
    public func markFailed(_ position: EventPosition, reason: String, retryAt: Date?) async throws {
        try await write { connection in
            try connection.withStatement(
                """
                UPDATE user_events SET attempts = attempts + 1, last_error = ?2, retry_at = ?3, dead = ?4, behind = 1
                WHERE position = ?1 AND published_at IS NULL
                """
            ) { statement in
                try statement.bind(1, position.rawValue)
                try statement.bind(2, reason)
                if let retryAt { try statement.bind(3, retryAt.epochMilliseconds) } else { try statement.bindNull(3) }
                try statement.bind(4, retryAt == nil ? 1 : 0)
                _ = try statement.step()
            }
        }
    }

    /// Dead events in position order, at most `limit`.
    public func deadEvents(limit: Int) async throws -> [OutboxEvent] {
        try await read { connection in
            try connection.withStatement(
                """
                SELECT \(Self.eventColumns) FROM user_events
                WHERE published_at IS NULL AND behind = 1 AND dead = 1 ORDER BY position LIMIT ?1
                """
            ) { statement in
                try statement.bind(1, max(0, limit))
                return try Self.decodeEvents(statement)
            }
        }
    }

    /// Makes dead events due again, attempts reset.
    @discardableResult
    public func retryDeadEvents(_ positions: [EventPosition]?) async throws -> Int {
        let count = try await write { connection in
            try connection.writeTransaction {
                let reset = "UPDATE user_events SET dead = 0, attempts = 0, retry_at = NULL, last_error = NULL"
                guard let positions else {
                    try connection.execute(reset + " WHERE published_at IS NULL AND dead = 1")
                    return connection.changes
                }
                var count = 0
                try connection.withStatement(reset + " WHERE position = ?1 AND published_at IS NULL AND dead = 1") {
                    statement in
                    for position in positions {
                        try statement.bind(1, position.rawValue)
                        _ = try statement.step()
                        statement.reset()
                        count += connection.changes
                    }
                }
                return count
            }
        }
        if count > 0 { commitSignal.signal() }
        return count
    }

    static func decodeEvents(_ statement: SQLiteStatement) throws -> [OutboxEvent] {
        var events: [OutboxEvent] = []
        while try statement.step() { events.append(try decodeEvent(statement)) }
        return events
    }

    /// The event of the current row of a statement that selects ``eventColumns`` first.
    static func decodeEvent(_ statement: SQLiteStatement) throws -> OutboxEvent {
        let position = EventPosition(rawValue: statement.int64(0))
        guard let envelope = try? UserEventEnvelope(jsonData: statement.data(1)) else {
            throw UserStoreError(.corrupt, "The event at position \(position) can't be decoded.")
        }
        return OutboxEvent(
            position: position, envelope: envelope, attempts: Int(statement.int64(2)),
            lastError: statement.isNull(3) ? nil : statement.text(3))
    }
}
