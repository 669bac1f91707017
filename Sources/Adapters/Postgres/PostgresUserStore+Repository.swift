import CLibPQ
import Foundation
import Logging
public import UserDomain
public import UserPorts

/// ``UserRepository``: the users, written with their events in one transaction.
extension PostgresUserStore {
    // Read in binary format: the uuid's 16 bytes, version as int4, timestamps as int8 microseconds; no text
    // formatting on the server, no parsing here.
    static let userColumns =
        "id, email, email_canonical, display_name, status, version, created_at, updated_at"
    // Built once: interpolating per call showed in the lookup profile (and the prepared-statement cache is
    // keyed by the text).
    static let selectByID = "SELECT \(userColumns) FROM users WHERE id = $1::uuid"
    static let selectByEmail = "SELECT \(userColumns) FROM users WHERE email_canonical = $1"
    static let selectFirstPage = "SELECT \(userColumns) FROM users ORDER BY id LIMIT $1::integer"
    static let selectPageAfter =
        "SELECT \(userColumns) FROM users WHERE id > $2::uuid ORDER BY id LIMIT $1::integer"

    /// The least busy lookup pipeline (the first idle one, so that one caller keeps to one connection); `nil`
    /// when lookups go through the pool.
    var lookupPipeline: PostgresLookupPipeline<User>? {
        guard var best = lookups.first else { return nil }
        var bestLoad = best.load
        for pipeline in lookups.dropFirst() where bestLoad > 0 {
            let load = pipeline.load
            if load < bestLoad { (best, bestLoad) = (pipeline, load) }
        }
        return best
    }

    /// The user with this id, or `nil`. Point lookups go through the lookup pipeline (a connection of its
    /// own in pipeline mode, see `PostgresLookupPipeline`): concurrent lookups share round trips.
    public func user(id: UserID) async throws -> User? {
        if let pipeline = lookupPipeline { return try await pipeline.lookup(0, id.description) }
        return try await read { connection in
            try Self.optionalUser(connection.query(Self.selectByID, [id.description], binaryResults: true))
        }
    }

    /// The user whose e-mail address has the same canonical form, or `nil` (through the lookup pipeline).
    public func user(email: EmailAddress) async throws -> User? {
        if let pipeline = lookupPipeline { return try await pipeline.lookup(1, email.canonical) }
        return try await read { connection in
            try Self.optionalUser(connection.query(Self.selectByEmail, [email.canonical], binaryResults: true))
        }
    }

    /// The user of a point lookup's result, or `nil` when it has no row.
    static func optionalUser(_ result: PostgresResult) throws -> User? {
        result.rowCount == 0 ? nil : try decodeUser(result, row: 0)
    }

    /// A page of users in id order after the cursor.
    public func page(after cursor: PageCursor?, limit: Int) async throws -> UserPage {
        try UserPage.validate(limit: limit)
        let users = try await read { connection in
            let result =
                if let cursor {
                    try connection.query(
                        Self.selectPageAfter,
                        [String(limit + 1), cursor.lastID.description], binaryResults: true)
                } else {
                    try connection.query(
                        Self.selectFirstPage, [String(limit + 1)],
                        binaryResults: true)
                }
            return try (0..<result.rowCount).map { try Self.decodeUser(result, row: $0) }
        }
        return UserPage(lookingAhead: users, limit: limit)
    }

    /// Inserts or updates a user and appends its events: one statement (data-modifying CTEs) in one round
    /// trip, atomic by itself, which also sends the NOTIFY when it appended events.
    @discardableResult
    public func save(_ user: User, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        let position = try await withConnection { connection in
            if expectedVersion == 0 {
                do {
                    return try Self.write(.insert, Self.userParameters(user), events: events, connection).position
                } catch let error as PostgresError where error.sqlState == "23505" {
                    // The id or the e-mail exists.
                    throw UserError.insertRefused(user, storedVersion: try Self.version(of: user.id, connection))
                }
            }
            let written: (matched: Bool, position: EventPosition?)
            do {
                written = try Self.write(
                    .update, Self.userParameters(user) + [String(expectedVersion)], events: events, connection)
            } catch let error as PostgresError where error.sqlState == "23505" {
                throw UserError.emailTaken(user.email)
            }
            guard written.matched else { throw Self.missedVersion(user.id, expected: expectedVersion, connection) }
            return written.position
        }
        if position != nil { commitSignal.signal() }
        return position
    }

    /// Removes a user and appends its events: one statement, one round trip.
    @discardableResult
    public func delete(id: UserID, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        let position = try await withConnection { connection in
            let written = try Self.write(
                .delete, [id.description, String(expectedVersion)], events: events, connection)
            guard written.matched else { throw Self.missedVersion(id, expected: expectedVersion, connection) }
            return written.position
        }
        if position != nil { commitSignal.signal() }
        return position
    }

    /// The data-modifying statements of ``write(_:_:events:_:)``: each returns the changed user's id.
    enum Change: Int, CaseIterable {
        case insert, update, delete

        var sql: String {
            switch self {
            case .insert:
                """
                INSERT INTO users (id, email, email_canonical, display_name, status, version, created_at, updated_at)
                VALUES ($1::uuid, $2, $3, $4, $5, $6::integer, to_timestamp($7::int8 / 1000.0),
                    to_timestamp($8::int8 / 1000.0))
                RETURNING id
                """
            case .update:
                """
                UPDATE users SET email = $2, email_canonical = $3, display_name = $4, status = $5,
                    version = $6::integer, created_at = to_timestamp($7::int8 / 1000.0),
                    updated_at = to_timestamp($8::int8 / 1000.0)
                WHERE id = $1::uuid AND version = $9::integer
                RETURNING id
                """
            case .delete:
                "DELETE FROM users WHERE id = $1::uuid AND version = $2::integer RETURNING id"
            }
        }

        var parameterCount: Int {
            switch self {
            case .insert: 8
            case .update: 9
            case .delete: 2
            }
        }
    }

    /// Every change's statement with one event and with several, composed once: a write used to interpolate
    /// about 1.2 KB of SQL per call before hashing it to find its prepared statement.
    static let writeStatements: [(one: String, several: String)] = Change.allCases.map { change in
        (writeStatement(change, oneEvent: true), writeStatement(change, oneEvent: false))
    }

    /// The change, then the events appended under the shared append lock only if it matched a row, then the
    /// NOTIFY when it appended. One event (every command but a bulk import has one) goes in as six plain
    /// parameters: measured with pgbench, the arrays' parsing, `unnest … WITH ORDINALITY` and its sort made the
    /// statement 0.215–0.251 ms against 0.168–0.183 ms this way.
    static func writeStatement(_ change: Change, oneEvent: Bool) -> String {
        let first = change.parameterCount + 1
        let rows =
            oneEvent
            ? """
            SELECT $\(first)::uuid, $\(first + 1)::uuid, $\(first + 2)::integer, $\(first + 3), $\(first + 4)::jsonb,
                to_timestamp($\(first + 5)::int8 / 1000.0)
            FROM changed, (SELECT pg_advisory_xact_lock_shared(\(PostgresSchema.appendLock))) AS append_lock
            """
            : """
            SELECT e.event_id, e.user_id, e.user_version, e.type, e.payload, to_timestamp(e.occurred / 1000.0)
            FROM changed, (SELECT pg_advisory_xact_lock_shared(\(PostgresSchema.appendLock))) AS append_lock,
                unnest($\(first)::uuid[], $\(first + 1)::uuid[], $\(first + 2)::integer[], $\(first + 3)::text[],
                    $\(first + 4)::jsonb[], $\(first + 5)::int8[])
                    WITH ORDINALITY AS e(event_id, user_id, user_version, type, payload, occurred, n)
            ORDER BY e.n
            """
        return """
            WITH changed AS (
            \(change.sql)
            ), appended AS (
                INSERT INTO user_events (event_id, user_id, user_version, type, payload, occurred_at)
                \(rows)
                RETURNING position
            )
            SELECT (SELECT count(*) FROM changed), (SELECT max(position) FROM appended),
                CASE WHEN EXISTS (SELECT 1 FROM appended) THEN pg_notify('\(PostgresListener.channel)', '') END
            """
    }

    /// Runs a change and appends `events` only if it matched a row, as one statement: atomic in autocommit,
    /// one round trip. The events' positions are drawn under the shared append lock (see
    /// ``events(after:limit:)``); the NOTIFY goes out at commit.
    static func write(
        _ change: Change, _ parameters: [String?], events: [UserEventEnvelope], _ connection: PostgresConnection
    ) throws -> (matched: Bool, position: EventPosition?) {
        let statements = writeStatements[change.rawValue]
        let result =
            events.count == 1
            ? try connection.query(statements.one, parameters + eventParameters(events[0]))
            : try connection.query(statements.several, parameters + eventArrays(events))
        let position = result.isNull(0, 1) ? nil : EventPosition(rawValue: result.int64(0, 1))
        return (result.int64(0, 0) > 0, position)
    }

    /// One event as the six parameters of an appended row: id, user, version, type, payload, time.
    static func eventParameters(_ event: UserEventEnvelope) -> [String] {
        [
            event.eventID.lowercasedString, event.userID.description, String(event.userVersion), event.type,
            event.jsonString(), String(event.occurredAt.epochMilliseconds),
        ]
    }

    /// Events as the six array parameters of an `unnest`: each the column of ``eventParameters(_:)``.
    static func eventArrays(_ events: [UserEventEnvelope]) -> [String?] {
        let rows = events.map(eventParameters)
        return (0..<6).map { column in PostgresArray.literal(rows.map { $0[column] }) }
    }

    /// Inserts new users with their events in one transaction of three statements, whatever the batch size:
    /// the users as arrays through `unnest` (`ON CONFLICT DO NOTHING`), a look-up of the ids that were
    /// refused (only when some were), and the events of the inserted users, in batch order.
    public func insert(_ batch: [UserChange]) async throws -> BatchInsertOutcome {
        guard !batch.isEmpty else { return BatchInsertOutcome() }
        let outcome = try await transaction { connection in
            let users = batch.map(\.user)
            let inserted = try connection.query(
                """
                INSERT INTO users (id, email, email_canonical, display_name, status, version, created_at, updated_at)
                SELECT id, email, email_canonical, display_name, status, version, to_timestamp(created / 1000.0),
                    to_timestamp(updated / 1000.0)
                FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::int8[],
                    $8::int8[]) AS batch(id, email, email_canonical, display_name, status, version, created, updated)
                ON CONFLICT DO NOTHING
                RETURNING id::text
                """,
                [
                    PostgresArray.literal(users.map(\.id.description)),
                    PostgresArray.literal(users.map(\.email.value)),
                    PostgresArray.literal(users.map(\.email.canonical)),
                    PostgresArray.literal(users.map(\.displayName.value)),
                    PostgresArray.literal(users.map(\.status.rawValue)),
                    PostgresArray.literal(users.map { String($0.version) }),
                    PostgresArray.literal(users.map { String($0.createdAt.epochMilliseconds) }),
                    PostgresArray.literal(users.map { String($0.updatedAt.epochMilliseconds) }),
                ])
            var outcome = BatchInsertOutcome(insertedCount: inserted.rowCount)
            var accepted: [Bool]
            if inserted.rowCount == batch.count {
                accepted = Array(repeating: true, count: batch.count)
            } else {
                // A duplicate within the batch shares its id with an inserted user: the first in batch order
                // was inserted (rows are inserted in array order), the later ones are refused.
                var insertedIDs = Set((0..<inserted.rowCount).map { inserted.string($0, 0) })
                accepted = users.map { insertedIDs.remove($0.id.description) != nil }
                let refused = users.indices.filter { !accepted[$0] }
                let stored = try connection.query(
                    "SELECT id::text, version FROM users WHERE id = ANY($1::uuid[])",
                    [PostgresArray.literal(refused.map { users[$0].id.description })])
                var versions: [String: Int] = [:]
                for row in 0..<stored.rowCount { versions[stored.string(row, 0)] = Int(stored.int64(row, 1)) }
                for index in refused {
                    let user = users[index]
                    outcome.rejected[index] = .insertRefused(user, storedVersion: versions[user.id.description])
                }
            }
            let events = batch.indices.filter { accepted[$0] }.flatMap { batch[$0].events }
            outcome.lastPosition = try Self.append(events, connection)
            return outcome
        }
        if outcome.lastPosition != nil { commitSignal.signal() }
        return outcome
    }
}
