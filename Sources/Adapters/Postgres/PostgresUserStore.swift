import CLibPQ
public import Foundation
public import Logging
public import UserDomain
public import UserPorts

/// The user store over PostgreSQL (libpq): several app instances can share one database.
///
/// A bounded pool of connections, each on its own serial queue so that blocking libpq calls never run on
/// Swift's cooperative thread pool; statements are prepared once per connection and parameters are always
/// bound. Point lookups by id or e-mail run on connections of their own (``Configuration/lookupConnections``),
/// in pipeline mode, whose threads batch the lookups of concurrent callers into shared round trips. A change
/// and its events commit in one statement, which also sends `NOTIFY user_events`; a dedicated LISTEN
/// connection raises ``commitSignal`` for commits of every process. Uniqueness violations
/// (SQLSTATE 23505) become `UserError.emailTaken`; a lost connection becomes `UserStoreError` code
/// `unavailable`, and the pool reconnects (with backoff) once the server is back. Cancelling a task cancels
/// its running query.
///
/// Open it with ``open(_:logger:)``; close it with ``close()``.
public final class PostgresUserStore: UserRepository, EventOutbox, UserDirectory {
    /// Raised when this or another process commits events (through LISTEN/NOTIFY).
    public let commitSignal: CommitSignal
    /// The URL with its password replaced by `***`: safe to log.
    public let redactedURL: String

    private let url: PostgresURL
    private let pool: PostgresPool
    private let lookups: [PostgresLookupPipeline<User>]
    private let listener: PostgresListener?
    private let logger: Logger

    private init(
        url: PostgresURL, pool: PostgresPool, lookupConnections: Int, listener: PostgresListener?,
        signal: CommitSignal, logger: Logger
    ) {
        self.commitSignal = signal
        self.url = url
        self.redactedURL = url.redacted
        self.pool = pool
        self.lookups = (0..<max(0, lookupConnections)).map { _ in
            PostgresLookupPipeline(
                url: url, statements: [Self.selectByID, Self.selectByEmail], logger: logger, decode: Self.optionalUser)
        }
        self.listener = listener
        self.logger = logger
    }

    /// Connects, applies missing migrations (under an advisory lock) and starts the LISTEN connection.
    ///
    /// - Throws: `UserStoreError` with the password redacted: `.invalidConfiguration` for a malformed URL
    ///   or a database that does not exist, `.accessDenied` for refused credentials, `.unavailable` for a
    ///   server that can't be reached or a host that can't be resolved, `.incompatibleSchema` for a newer
    ///   schema.
    public static func open(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "user-postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> PostgresUserStore {
        let url = try PostgresURL(configuration.url, connectTimeout: configuration.connectTimeout)
        let pool = PostgresPool(
            url: url,
            settings: .init(
                minimumConnections: max(0, configuration.minimumConnections),
                maximumConnections: max(1, configuration.maximumConnections),
                acquireTimeout: configuration.acquireTimeout,
                maximumIdleTime: configuration.maximumIdleTime),
            logger: logger)
        let redacted = url.redacted
        do {
            try await withConnection(pool: pool, url: url) { connection in
                try PostgresSchema.migrate(connection, redactedURL: redacted)
            }
        } catch {
            await pool.close()
            throw error
        }
        let signal = CommitSignal()
        let listener =
            configuration.listensForCommits ? PostgresListener(url: url, signal: signal, logger: logger) : nil
        logger.debug("postgres store opened", metadata: ["url": "\(redacted)"])
        return PostgresUserStore(
            url: url, pool: pool, lookupConnections: configuration.lookupConnections, listener: listener,
            signal: signal, logger: logger)
    }

    /// Stops listening and closes every connection. Operations afterwards throw `UserStoreError` code
    /// `closed`.
    public func close() async {
        for pipeline in lookups { await pipeline.close() }
        if let listener {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    listener.stop()
                    continuation.resume()
                }
            }
        }
        await pool.close()
    }

    // MARK: Running statements

    /// Runs `body` on a pooled connection (internal, not private: the tests hold connections with it).
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws
        -> T
    {
        try await Self.withConnection(pool: pool, url: url, body)
    }

    /// Runs `body` on a pooled connection, returns the connection, and maps errors at the boundary.
    static func withConnection<T: Sendable>(
        pool: PostgresPool, url: PostgresURL, retryingLostConnection: Bool = false,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        let worker = try await pool.acquire()
        do {
            let result = try await worker.perform(body)
            await pool.release(worker)
            return result
        } catch let error as PostgresError where error.connectionLost {
            await pool.release(worker)
            await pool.invalidateIdle()
            guard retryingLostConnection else { throw PostgresErrors.map(error, url: url, connecting: false) }
            // Once, on a fresh connection: only the lost connection is retried, never a pool timeout or a
            // failed connect, which would double the wait a caller was promised.
            return try await withConnection(pool: pool, url: url, body)
        } catch {
            await pool.release(worker)
            throw PostgresErrors.map(error, url: url, connecting: false)
        }
    }

    /// A read, retried once on a fresh connection when the one it got had lost its server (a read can't
    /// have changed anything).
    private func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await Self.withConnection(pool: pool, url: url, retryingLostConnection: true, body)
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    private func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws
        -> T
    {
        try await withConnection { connection in
            try connection.execute("BEGIN")
            do {
                let result = try body(connection)
                try connection.execute("COMMIT")
                return result
            } catch {
                if PQtransactionStatus(connection.handle) != PQTRANS_IDLE { _ = try? connection.execute("ROLLBACK") }
                throw error
            }
        }
    }

    // MARK: UserRepository

    // Read in binary format: the uuid's 16 bytes, version as int4, timestamps as int8 microseconds; no text
    // formatting on the server, no parsing here.
    private static let userColumns =
        "id, email, email_canonical, display_name, status, version, created_at, updated_at"
    // Built once: interpolating per call showed in the lookup profile (and the prepared-statement cache is
    // keyed by the text).
    private static let selectByID = "SELECT \(userColumns) FROM users WHERE id = $1::uuid"
    private static let selectByEmail = "SELECT \(userColumns) FROM users WHERE email_canonical = $1"
    private static let selectFirstPage = "SELECT \(userColumns) FROM users ORDER BY id LIMIT $1::integer"
    private static let selectPageAfter =
        "SELECT \(userColumns) FROM users WHERE id > $2::uuid ORDER BY id LIMIT $1::integer"

    /// The least busy lookup pipeline (the first idle one, so that one caller keeps to one connection); `nil`
    /// when lookups go through the pool.
    private var lookupPipeline: PostgresLookupPipeline<User>? {
        guard var best = lookups.first else { return nil }
        var bestLoad = best.load
        for pipeline in lookups.dropFirst() where bestLoad > 0 {
            let load = pipeline.load
            if load < bestLoad { (best, bestLoad) = (pipeline, load) }
        }
        return best
    }

    /// The user with this id, or `nil`. Point lookups go through the lookup pipeline (a connection of its
    /// own in pipeline mode, see ``PostgresLookupPipeline``): concurrent lookups share round trips.
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
    private static func optionalUser(_ result: PostgresResult) throws -> User? {
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
        guard users.count > limit else { return UserPage(users: users, nextCursor: nil) }
        let pageUsers = Array(users.prefix(limit))
        return UserPage(users: pageUsers, nextCursor: PageCursor(after: pageUsers[limit - 1].id))
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
                    // The id or the e-mail exists; an existing id is a version conflict whatever the e-mail.
                    if let actual = try Self.version(of: user.id, connection) {
                        throw UserError.versionConflict(user.id, expected: 0, actual: actual)
                    }
                    throw UserError.emailTaken(user.email)
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
    private enum Change: Int, CaseIterable {
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
    private static let writeStatements: [(one: String, several: String)] = Change.allCases.map { change in
        (writeStatement(change, oneEvent: true), writeStatement(change, oneEvent: false))
    }

    /// The change, then the events appended under the shared append lock only if it matched a row, then the
    /// NOTIFY when it appended. One event (every command but a bulk import has one) goes in as six plain
    /// parameters: measured with pgbench, the arrays' parsing, `unnest … WITH ORDINALITY` and its sort made the
    /// statement 0.215–0.251 ms against 0.168–0.183 ms this way.
    private static func writeStatement(_ change: Change, oneEvent: Bool) -> String {
        let first = change.parameterCount + 1
        let rows =
            oneEvent
            ? """
            SELECT $\(first)::uuid, $\(first + 1)::uuid, $\(first + 2)::integer, $\(first + 3), $\(first + 4)::jsonb,
                to_timestamp($\(first + 5)::int8 / 1000.0)
            FROM changed, (SELECT pg_advisory_xact_lock_shared(\(PostgresSchema.appendLockKey))) AS append_lock
            """
            : """
            SELECT e.event_id, e.user_id, e.user_version, e.type, e.payload, to_timestamp(e.occurred / 1000.0)
            FROM changed, (SELECT pg_advisory_xact_lock_shared(\(PostgresSchema.appendLockKey))) AS append_lock,
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
    private static func write(
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
    private static func eventParameters(_ event: UserEventEnvelope) -> [String] {
        [
            event.eventID.lowercasedString, event.userID.description, String(event.userVersion), event.type,
            event.jsonString(), String(event.occurredAt.epochMilliseconds),
        ]
    }

    /// Events as the six array parameters of an `unnest`: each the column of ``eventParameters(_:)``.
    private static func eventArrays(_ events: [UserEventEnvelope]) -> [String?] {
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
                    outcome.rejected[index] =
                        if let actual = versions[user.id.description] {
                            .versionConflict(user.id, expected: 0, actual: actual)
                        } else {
                            .emailTaken(user.email)
                        }
                }
            }
            let events = batch.indices.filter { accepted[$0] }.flatMap { batch[$0].events }
            outcome.lastPosition = try Self.append(events, connection)
            return outcome
        }
        if outcome.lastPosition != nil { commitSignal.signal() }
        return outcome
    }

    // MARK: EventOutbox

    private static let eventColumns = "position, payload::text, attempts, last_error"

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

    /// Deletes published events that occurred before `date`, and notes that the history was trimmed.
    @discardableResult
    public func deletePublishedEvents(before date: Date) async throws -> Int {
        try await transaction { connection in
            let cutoff = String(date.epochMilliseconds)
            _ = try connection.query(
                """
                INSERT INTO projection_checkpoints (name, position)
                SELECT '\(PostgresUserStore.trimmedMarker)', max(position) FROM user_events
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

    /// The checkpoint row that records the highest position deleted by retention.
    static let trimmedMarker = "$history.trimmed"

    /// Takes or renews the relay lease, on the server's clock (so relays on machines whose clocks differ
    /// agree on when a lease ends).
    public func acquireRelayLease(owner: String, duration: Duration) async throws -> Bool {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return try await withConnection { connection in
            try connection.query(
                """
                INSERT INTO relay_lease (name, owner, expires_at)
                VALUES ('outbox', $1, now() + $2::int8 * interval '1 millisecond')
                ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                WHERE relay_lease.owner = excluded.owner OR relay_lease.expires_at <= now()
                RETURNING owner
                """, [owner, String(milliseconds)]
            ).rowCount == 1
        }
    }

    /// Gives the lease up when `owner` holds it.
    public func releaseRelayLease(owner: String) async throws {
        try await withConnection { connection in
            _ = try connection.query("DELETE FROM relay_lease WHERE name = 'outbox' AND owner = $1", [owner])
        }
    }

    private static func decodeEvents(_ result: PostgresResult) throws -> [OutboxEvent] {
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

    // MARK: UserDirectory

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
                    "SELECT 1 FROM projection_checkpoints WHERE name = '\(Self.trimmedMarker)'"
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

    private static func applyToDirectory(_ event: UserEventEnvelope, _ connection: PostgresConnection) throws {
        let id = event.userID.description
        let version = String(event.userVersion)
        let at = String(event.occurredAt.epochMilliseconds)
        switch event.event {
        case .registered(let email, let displayName):
            _ = try connection.query(
                """
                INSERT INTO user_directory (id, email, email_canonical, display_name, display_name_folded, status,
                    version, created_at, updated_at)
                VALUES ($1::uuid, $2, $3, $4, $5, 'active', $6::integer, to_timestamp($7::int8 / 1000.0),
                    to_timestamp($7::int8 / 1000.0))
                ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_canonical = excluded.email_canonical,
                    display_name = excluded.display_name, display_name_folded = excluded.display_name_folded,
                    status = excluded.status, version = excluded.version, created_at = excluded.created_at,
                    updated_at = excluded.updated_at
                """,
                [id, email.value, email.canonical, displayName.value, displayName.value.lowercased(), version, at])
        case .renamed(let displayName, _):
            _ = try connection.query(
                """
                UPDATE user_directory SET display_name = $2, display_name_folded = $3, version = $4::integer,
                    updated_at = to_timestamp($5::int8 / 1000.0)
                WHERE id = $1::uuid
                """, [id, displayName.value, displayName.value.lowercased(), version, at])
        case .emailChanged(let email, _):
            _ = try connection.query(
                """
                UPDATE user_directory SET email = $2, email_canonical = $3, version = $4::integer,
                    updated_at = to_timestamp($5::int8 / 1000.0)
                WHERE id = $1::uuid
                """, [id, email.value, email.canonical, version, at])
        case .deactivated, .reactivated:
            _ = try connection.query(
                """
                UPDATE user_directory SET status = $2, version = $3::integer, updated_at = to_timestamp($4::int8 / 1000.0)
                WHERE id = $1::uuid
                """, [id, event.event == .deactivated ? "deactivated" : "active", version, at])
        case .deleted:
            _ = try connection.query("DELETE FROM user_directory WHERE id = $1::uuid", [id])
        }
    }

    // MARK: Statements

    private static func userParameters(_ user: User) -> [String?] {
        [
            user.id.description, user.email.value, user.email.canonical, user.displayName.value,
            user.status.rawValue, String(user.version), String(user.createdAt.epochMilliseconds),
            String(user.updatedAt.epochMilliseconds),
        ]
    }

    /// Appends events in their order with one statement, which also sends the NOTIFY (delivered at commit,
    /// and only if the transaction commits). The rows are drawn after the shared append lock is taken (the
    /// one-row join is read before the first row is formed), which ``events(after:limit:)`` relies on.
    private static func append(_ events: [UserEventEnvelope], _ connection: PostgresConnection) throws -> EventPosition?
    {
        guard !events.isEmpty else { return nil }
        let result = try connection.query(
            """
            WITH inserted AS (
                INSERT INTO user_events (event_id, user_id, user_version, type, payload, occurred_at)
                SELECT event_id, user_id, user_version, type, payload, to_timestamp(occurred / 1000.0)
                FROM unnest($1::uuid[], $2::uuid[], $3::integer[], $4::text[], $5::jsonb[], $6::int8[])
                    WITH ORDINALITY AS batch(event_id, user_id, user_version, type, payload, occurred, n),
                    (SELECT pg_advisory_xact_lock_shared(\(PostgresSchema.appendLockKey))) AS append_lock
                ORDER BY n
                RETURNING position
            )
            SELECT (SELECT max(position) FROM inserted), pg_notify('\(PostgresListener.channel)', '')
            """, eventArrays(events))
        return EventPosition(rawValue: result.int64(0, 0))
    }

    private static func missedVersion(_ id: UserID, expected: Int, _ connection: PostgresConnection) -> any Error {
        do {
            guard let actual = try version(of: id, connection) else { return UserError.notFound(id) }
            return UserError.versionConflict(id, expected: expected, actual: actual)
        } catch {
            return error
        }
    }

    private static func version(of id: UserID, _ connection: PostgresConnection) throws -> Int? {
        let result = try connection.query("SELECT version FROM users WHERE id = $1::uuid", [id.description])
        return result.rowCount == 0 ? nil : Int(result.int64(0, 0))
    }

    /// Decodes a row of ``userColumns`` read in binary format.
    private static func decodeUser(_ result: PostgresResult, row: Int) throws -> User {
        guard let uuid = result.uuid(row, 0), let status = UserStatus(rawValue: result.string(row, 4)) else {
            throw UserStoreError(.corrupt, "A stored user row can't be decoded.")
        }
        // The canonical form usually is the address itself: one String for both then.
        let email = result.string(row, 1)
        return User(
            id: UserID(uuid),
            email: EmailAddress(
                trustedValue: email, canonical: result.sameBytes(row, 1, 2) ? email : result.string(row, 2)),
            displayName: DisplayName(trustedValue: result.string(row, 3)),
            status: status,
            version: Int(result.binaryInteger(row, 5)),
            createdAt: Date(epochMilliseconds: result.timestampMilliseconds(row, 6)),
            updatedAt: Date(epochMilliseconds: result.timestampMilliseconds(row, 7)))
    }
}

extension PostgresUserStore {
    /// Pooled connections handed out and not given back: for tests that must know a connection is held.
    var connectionsInUse: Int {
        get async { await pool.inUse }
    }
}

extension PostgresUserStore {
    /// Runs one statement on a connection of its own, off the cooperative pool: for test set-up in this
    /// package (creating and dropping a schema per test).
    package static func execute(url: String, _ sql: String) async throws {
        let url = try PostgresURL(url, connectTimeout: .seconds(5))
        let worker = PostgresWorker()
        do {
            try await worker.connect(url.conninfo)
            _ = try await worker.perform { connection in _ = try connection.execute(sql) }
            await worker.close()
        } catch {
            await worker.close()
            throw PostgresErrors.map(error, url: url, connecting: false)
        }
    }
}
