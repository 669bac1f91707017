import CSQLite
public import Foundation
public import Logging
public import UserDomain
public import UserPorts

/// The user store over SQLite: the embedded default, one file, no server.
///
/// One writer connection and a pool of reader connections, in WAL mode so that readers never wait for the
/// writer. Every connection lives on its own serial queue (``SQLiteWorker``), never on Swift's cooperative
/// thread pool: a statement that waits on a lock or the disk blocks only its queue. Writes take the write
/// lock at once (`BEGIN IMMEDIATE`) and wait up to the busy timeout for other processes; a change and its
/// events commit in one transaction. Cancelling a task interrupts its running statement. The write-ahead log
/// is copied back into the database by a connection of its own, not by the commit that fills it (see
/// `SQLiteCheckpointer`): the log stays bounded, and a write does not pay for the copy.
///
/// Open it with ``open(_:logger:)``; close it with ``close()``.
public final class SQLiteUserStore: UserRepository, EventOutbox, UserDirectory {
    /// Raised after every commit of this store that appended events.
    public let commitSignal = CommitSignal()
    /// The configuration the store was opened with.
    public let configuration: Configuration

    private let writer: SQLiteWorker
    private let readers: [SQLiteWorker]
    private let inlineReaders: SQLiteInlineReaders
    /// Copies the log back into the database off the commit path; nil in memory.
    let checkpointer: SQLiteCheckpointer?
    private let nextReader = Locked(0)
    private let logger: Logger

    private init(
        configuration: Configuration, writer: SQLiteWorker, readers: [SQLiteWorker],
        inlineReaders: SQLiteInlineReaders, checkpointer: SQLiteCheckpointer?, logger: Logger
    ) {
        self.configuration = configuration
        self.writer = writer
        self.readers = readers
        self.inlineReaders = inlineReaders
        self.checkpointer = checkpointer
        self.logger = logger
    }

    /// Opens (creating if needed) the database, applies missing migrations and opens the reader pool.
    ///
    /// A missing file is created, with its folder.
    ///
    /// - Throws: `UserStoreError`, naming the path: `.corrupt` for a file that is not a SQLite database
    ///   (empty, text, truncated), `.invalidConfiguration` for a directory in place of the file,
    ///   `.accessDenied` for a location that can't be written, `.unavailable` for a database locked by
    ///   another connection past the busy timeout, `.incompatibleSchema` for a newer schema.
    public static func open(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "user-sqlite", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> SQLiteUserStore {
        let path = configuration.path
        let inMemory = configuration.isInMemory
        let writer = SQLiteWorker(label: "user-sqlite.writer")
        var readers: [SQLiteWorker] = []
        // Empty for an in-memory database: every read is served by the writer.
        var inlineReaders = SQLiteInlineReaders()
        var checkpointer: SQLiteCheckpointer?
        do {
            let setUp: @Sendable (SQLiteConnection) throws -> Void = { connection in
                try configure(connection, configuration: configuration, readOnly: false)
                if !inMemory {
                    let mode = try connection.scalarText("PRAGMA journal_mode = WAL")
                    guard mode?.lowercased() == "wal" else {
                        throw UserStoreError(.internal, "The database \(path) could not be switched to WAL mode.")
                    }
                }
                try SQLiteSchema.migrate(connection, path: path)
            }
            try await writer.open(
                {
                    if !inMemory { try SQLiteFileCheck.prepare(path: path, initialize: setUp) }
                    // Only the file created above, or one that already existed, is opened: never created here.
                    return try SQLiteConnection(
                        path: path,
                        flags: inMemory ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE)
                }, setUp: setUp)
            // An in-memory database exists once per connection: it is served by the writer alone.
            if !inMemory {
                for index in 0..<max(1, configuration.readerCount) {
                    let reader = SQLiteWorker(label: "user-sqlite.reader\(index)")
                    readers.append(reader)
                    try await reader.open {
                        try SQLiteConnection(path: path, flags: SQLITE_OPEN_READONLY)
                    } setUp: { connection in
                        try configure(connection, configuration: configuration, readOnly: true)
                    }
                }
                // The connections of inline reads, opened on the writer's queue (opening reads the file).
                inlineReaders = try await writer.perform { _ in
                    try SQLiteInlineReaders(path: path, count: max(2, configuration.readerCount)) { connection in
                        try configure(connection, configuration: configuration, readOnly: true)
                    }
                }
                // Checkpoints off the commit path (see ``SQLiteCheckpointer``); an in-memory database has no log.
                let opened = try await SQLiteCheckpointer.open(path: path, logger: logger) { connection in
                    try configure(connection, configuration: configuration, readOnly: false)
                }
                checkpointer = opened
                try await writer.perform { connection in opened.install(on: connection) }
            }
        } catch {
            // Whatever was opened, closed as ``close()`` does (closing a worker that never opened is harmless).
            await close(writer: writer, readers: readers, inlineReaders: inlineReaders, checkpointer: checkpointer)
            throw mapError(error, path: path, opening: true)
        }
        logger.debug(
            "sqlite store opened",
            metadata: ["path": "\(path)", "readers": "\(readers.count)", "synchronous": "\(configuration.synchronous)"])
        return SQLiteUserStore(
            configuration: configuration, writer: writer, readers: readers, inlineReaders: inlineReaders,
            checkpointer: checkpointer, logger: logger)
    }

    /// Closes every connection. Operations started afterwards throw `UserStoreError` with code `closed`.
    public func close() async {
        await Self.close(writer: writer, readers: readers, inlineReaders: inlineReaders, checkpointer: checkpointer)
    }

    private static func close(
        writer: SQLiteWorker, readers: [SQLiteWorker], inlineReaders: SQLiteInlineReaders,
        checkpointer: SQLiteCheckpointer?
    ) async {
        inlineReaders.close()
        for reader in readers { await reader.close() }
        await writer.close()
        await checkpointer?.close()
    }

    private static func configure(_ connection: SQLiteConnection, configuration: Configuration, readOnly: Bool) throws {
        let milliseconds =
            configuration.busyTimeout.components.seconds * 1000
            + configuration.busyTimeout.components.attoseconds / 1_000_000_000_000_000
        sqlite3_busy_timeout(connection.handle, Int32(clamping: milliseconds))
        try connection.execute("PRAGMA foreign_keys = ON")
        if readOnly {
            try connection.execute("PRAGMA query_only = ON")
        } else {
            try connection.execute("PRAGMA synchronous = \(configuration.synchronous.rawValue.uppercased())")
        }
    }

    // MARK: Running statements

    /// Reads on a reader connection (the writer for an in-memory database), round robin.
    private func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        let worker: SQLiteWorker
        if readers.isEmpty {
            worker = writer
        } else {
            let index = nextReader.withLock { next in
                defer { next = next &+ 1 }
                return next
            }
            worker = readers[index % readers.count]
        }
        return try await perform(on: worker, body)
    }

    /// A short read (a lookup, a bounded page) inline on the caller's thread with a borrowed connection
    /// (see ``SQLiteInlineReaders``), or on a reader worker when none is free or the database is busy.
    private func shortRead<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        do {
            if let result = try inlineReaders.read(body) { return result }
        } catch {
            throw Self.mapError(error, path: configuration.path, opening: false)
        }
        return try await read(body)
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await perform(on: writer, body)
    }

    private func perform<T: Sendable>(
        on worker: SQLiteWorker, _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws -> T {
        do {
            return try await worker.perform(body)
        } catch {
            throw Self.mapError(error, path: configuration.path, opening: false)
        }
    }

    // MARK: UserRepository

    private static let userColumns =
        "id, email, email_canonical, display_name, status, version, created_at, updated_at"
    // Built once: the statement cache is keyed by the text, and interpolating it per call showed in the
    // lookup profile.
    private static let selectByID = "SELECT \(userColumns) FROM users WHERE id = ?1"
    private static let selectByEmail = "SELECT \(userColumns) FROM users WHERE email_canonical = ?1"
    private static let selectFirstPage = "SELECT \(userColumns) FROM users ORDER BY id LIMIT ?1"
    private static let selectPageAfter = "SELECT \(userColumns) FROM users WHERE id > ?2 ORDER BY id LIMIT ?1"

    /// The user with this id, or `nil`.
    public func user(id: UserID) async throws -> User? {
        try await shortRead { connection in
            try connection.withStatement(Self.selectByID) { statement in
                try statement.bind(1, id.uuid)
                return try statement.step() ? try Self.decodeUser(statement) : nil
            }
        }
    }

    /// The user whose e-mail address has the same canonical form, or `nil`.
    public func user(email: EmailAddress) async throws -> User? {
        try await shortRead { connection in
            try connection.withStatement(Self.selectByEmail) {
                statement in
                try statement.bind(1, email.canonical)
                return try statement.step() ? try Self.decodeUser(statement) : nil
            }
        }
    }

    /// A page of users in id order after the cursor.
    public func page(after cursor: PageCursor?, limit: Int) async throws -> UserPage {
        try UserPage.validate(limit: limit)
        let users = try await shortRead { connection in
            try connection.withStatement(cursor == nil ? Self.selectFirstPage : Self.selectPageAfter) { statement in
                try statement.bind(1, limit + 1)
                if let cursor { try statement.bind(2, cursor.lastID.uuid) }
                var users: [User] = []
                users.reserveCapacity(min(limit + 1, 128))
                while try statement.step() { users.append(try Self.decodeUser(statement)) }
                return users
            }
        }
        guard users.count > limit else { return UserPage(users: users, nextCursor: nil) }
        let pageUsers = Array(users.prefix(limit))
        return UserPage(users: pageUsers, nextCursor: PageCursor(after: pageUsers[limit - 1].id))
    }

    /// Inserts or updates a user and appends its events, in one transaction.
    @discardableResult
    public func save(_ user: User, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        let position = try await write { connection in
            try connection.writeTransaction {
                if expectedVersion == 0 {
                    try Self.insert(user, connection)
                } else {
                    try Self.update(user, expectedVersion: expectedVersion, connection)
                }
                return try Self.append(events, connection)
            }
        }
        if position != nil { commitSignal.signal() }
        return position
    }

    /// Inserts new users with their events in one transaction; users whose id or e-mail is taken are
    /// skipped and reported.
    public func insert(_ batch: [UserChange]) async throws -> BatchInsertOutcome {
        guard !batch.isEmpty else { return BatchInsertOutcome() }
        let outcome = try await write { connection in
            try connection.writeTransaction {
                var outcome = BatchInsertOutcome()
                // Both statements looked up once per batch, not once per row.
                let insertUser = try connection.statement(
                    """
                    INSERT INTO users (id, email, email_canonical, display_name, status, version, created_at,
                        updated_at)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING
                    """)
                let insertEvent = try connection.statement(Self.insertEvent)
                for (index, change) in batch.enumerated() {
                    do {
                        defer { insertUser.reset() }
                        try Self.bindUser(change.user, insertUser)
                        _ = try insertUser.step()
                    }
                    guard connection.changes > 0 else {
                        if let actual = try Self.version(of: change.user.id, connection) {
                            outcome.rejected[index] = .versionConflict(change.user.id, expected: 0, actual: actual)
                        } else {
                            outcome.rejected[index] = .emailTaken(change.user.email)
                        }
                        continue
                    }
                    outcome.insertedCount += 1
                    if !change.events.isEmpty {
                        try Self.append(change.events, with: insertEvent)
                        outcome.lastPosition = EventPosition(rawValue: connection.lastInsertRowID)
                    }
                }
                return outcome
            }
        }
        if outcome.lastPosition != nil { commitSignal.signal() }
        return outcome
    }

    /// Removes a user and appends its events, in one transaction.
    @discardableResult
    public func delete(id: UserID, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        let position = try await write { connection in
            try connection.writeTransaction {
                try connection.withStatement("DELETE FROM users WHERE id = ?1 AND version = ?2") { statement in
                    try statement.bind(1, id.uuid)
                    try statement.bind(2, expectedVersion)
                    _ = try statement.step()
                }
                if connection.changes == 0 {
                    throw Self.missedVersion(id, expected: expectedVersion, connection)
                }
                return try Self.append(events, connection)
            }
        }
        if position != nil { commitSignal.signal() }
        return position
    }

    // MARK: EventOutbox

    private static let eventColumns = "position, payload, attempts, last_error"

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
        try await write { connection in
            try connection.writeTransaction {
                try connection.withStatement(
                    "UPDATE user_events SET published_at = ?2 WHERE position = ?1 AND published_at IS NULL"
                ) { statement in
                    for position in positions {
                        try statement.bind(1, position.rawValue)
                        try statement.bind(2, now)
                        _ = try statement.step()
                        statement.reset()
                    }
                }
                try Self.advanceWatermark(connection)
            }
        }
    }

    /// Moves the outbox watermark past published events and past events held back by an earlier event of
    /// their user that is itself behind (those are marked `behind`, so that they stay in view); it stops
    /// below the first event still due in order. The scan starts at the watermark, so it reads about as
    /// many rows as were published since.
    private static func advanceWatermark(_ connection: SQLiteConnection) throws {
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

    /// Deletes published events that occurred before `date`, and notes that the history was trimmed.
    @discardableResult
    public func deletePublishedEvents(before date: Date) async throws -> Int {
        try await write { connection in
            try connection.writeTransaction {
                try connection.withStatement(
                    """
                    INSERT INTO projection_checkpoints (name, position)
                    SELECT '\(SQLiteUserStore.trimmedMarker)', max(position) FROM user_events
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

    /// The checkpoint row that records the highest position deleted by retention.
    static let trimmedMarker = "$history.trimmed"

    /// Takes or renews the relay lease, on this machine's clock (a SQLite file is shared by processes of
    /// one machine only).
    public func acquireRelayLease(owner: String, duration: Duration) async throws -> Bool {
        let now = Date().epochMilliseconds
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return try await write { connection in
            try connection.withStatement(
                """
                INSERT INTO relay_lease (name, owner, expires_at) VALUES ('outbox', ?1, ?2)
                ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                WHERE relay_lease.owner = excluded.owner OR relay_lease.expires_at <= ?3
                """
            ) { statement in
                try statement.bind(1, owner)
                try statement.bind(2, now + milliseconds)
                try statement.bind(3, now)
                _ = try statement.step()
            }
            return connection.changes == 1
        }
    }

    /// Gives the lease up when `owner` holds it.
    public func releaseRelayLease(owner: String) async throws {
        try await write { connection in
            try connection.withStatement("DELETE FROM relay_lease WHERE name = 'outbox' AND owner = ?1") {
                statement in
                try statement.bind(1, owner)
                _ = try statement.step()
            }
        }
    }

    private static func decodeEvents(_ statement: SQLiteStatement) throws -> [OutboxEvent] {
        var events: [OutboxEvent] = []
        while try statement.step() { events.append(try decodeEvent(statement)) }
        return events
    }

    /// The event of the current row of a statement that selects ``eventColumns`` first.
    private static func decodeEvent(_ statement: SQLiteStatement) throws -> OutboxEvent {
        let position = EventPosition(rawValue: statement.int64(0))
        guard let envelope = try? UserEventEnvelope(jsonData: statement.data(1)) else {
            throw UserStoreError(.corrupt, "The event at position \(position) can't be decoded.")
        }
        return OutboxEvent(
            position: position, envelope: envelope, attempts: Int(statement.int64(2)),
            lastError: statement.isNull(3) ? nil : statement.text(3))
    }

    // MARK: UserDirectory

    /// Entries whose e-mail or display name starts with `prefix`, ignoring case.
    public func searchDirectory(prefix: String, limit: Int) async throws -> [DirectoryEntry] {
        let low = prefix.lowercased()
        return try await read { connection in
            try connection.withStatement(
                """
                SELECT id, email, display_name, status, version, created_at, updated_at FROM user_directory
                WHERE (email_canonical >= ?1 AND email_canonical < ?2)
                    OR (display_name_folded >= ?1 AND display_name_folded < ?2)
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
    }

    /// Counts by status.
    public func directoryStatistics() async throws -> DirectoryStatistics {
        try await read { connection in
            try connection.withStatement(
                """
                SELECT coalesce(sum(status = 'active'), 0), coalesce(sum(status = 'deactivated'), 0)
                FROM user_directory
                """
            ) { statement in
                _ = try statement.step()
                return DirectoryStatistics(active: Int(statement.int64(0)), deactivated: Int(statement.int64(1)))
            }
        }
    }

    /// The directory's checkpoint.
    public func directoryPosition() async throws -> EventPosition? {
        try await read { connection in try Self.directoryCheckpoint(connection) }
    }

    /// Applies events and moves the checkpoint, in one transaction; events at or below it are skipped.
    public func applyToDirectory(_ events: [OutboxEvent]) async throws {
        guard !events.isEmpty else { return }
        try await write { connection in
            try connection.writeTransaction {
                let checkpoint = try Self.directoryCheckpoint(connection)?.rawValue ?? 0
                var last = checkpoint
                for entry in events where entry.position.rawValue > last {
                    try Self.applyToDirectory(entry.envelope, connection)
                    last = entry.position.rawValue
                }
                guard last > checkpoint else { return }
                try connection.withStatement(
                    "UPDATE projection_checkpoints SET position = ?1 WHERE name = 'directory'"
                ) { statement in
                    try statement.bind(1, last)
                    _ = try statement.step()
                }
            }
        }
    }

    /// Empties the directory and its checkpoint, unless retention trimmed the log.
    public func resetDirectory() async throws {
        try await write { connection in
            try connection.writeTransaction {
                let trimmed = try connection.withStatement(
                    "SELECT 1 FROM projection_checkpoints WHERE name = '\(Self.trimmedMarker)'"
                ) { try $0.step() }
                if trimmed {
                    throw UserStoreError(
                        .historyTrimmed,
                        "The event log of \(self.configuration.path) was trimmed by retention; the directory can't "
                            + "be rebuilt from it.")
                }
                try connection.execute("DELETE FROM user_directory")
                try connection.execute("UPDATE projection_checkpoints SET position = 0 WHERE name = 'directory'")
            }
        }
    }

    private static func directoryCheckpoint(_ connection: SQLiteConnection) throws -> EventPosition? {
        try connection.withStatement("SELECT position FROM projection_checkpoints WHERE name = 'directory'") {
            statement in
            guard try statement.step(), statement.int64(0) > 0 else { return nil }
            return EventPosition(rawValue: statement.int64(0))
        }
    }

    private static func applyToDirectory(_ event: UserEventEnvelope, _ connection: SQLiteConnection) throws {
        let id = event.userID.uuid
        let version = event.userVersion
        let at = event.occurredAt.epochMilliseconds
        switch event.event {
        case .registered(let email, let displayName):
            try connection.withStatement(
                """
                INSERT INTO user_directory (id, email, email_canonical, display_name, display_name_folded, status,
                    version, created_at, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?7, ?7)
                ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_canonical = excluded.email_canonical,
                    display_name = excluded.display_name, display_name_folded = excluded.display_name_folded,
                    status = excluded.status, version = excluded.version, created_at = excluded.created_at,
                    updated_at = excluded.updated_at
                """
            ) { statement in
                try statement.bind(1, id)
                try statement.bind(2, email.value)
                try statement.bind(3, email.canonical)
                try statement.bind(4, displayName.value)
                try statement.bind(5, displayName.value.lowercased())
                try statement.bind(6, version)
                try statement.bind(7, at)
                _ = try statement.step()
            }
        case .renamed(let displayName, _):
            try connection.withStatement(
                """
                UPDATE user_directory SET display_name = ?2, display_name_folded = ?3, version = ?4, updated_at = ?5
                WHERE id = ?1
                """
            ) { statement in
                try statement.bind(1, id)
                try statement.bind(2, displayName.value)
                try statement.bind(3, displayName.value.lowercased())
                try statement.bind(4, version)
                try statement.bind(5, at)
                _ = try statement.step()
            }
        case .emailChanged(let email, _):
            try connection.withStatement(
                """
                UPDATE user_directory SET email = ?2, email_canonical = ?3, version = ?4, updated_at = ?5
                WHERE id = ?1
                """
            ) { statement in
                try statement.bind(1, id)
                try statement.bind(2, email.value)
                try statement.bind(3, email.canonical)
                try statement.bind(4, version)
                try statement.bind(5, at)
                _ = try statement.step()
            }
        case .deactivated, .reactivated:
            try connection.withStatement(
                "UPDATE user_directory SET status = ?2, version = ?3, updated_at = ?4 WHERE id = ?1"
            ) { statement in
                try statement.bind(1, id)
                try statement.bind(2, event.event == .deactivated ? "deactivated" : "active")
                try statement.bind(3, version)
                try statement.bind(4, at)
                _ = try statement.step()
            }
        case .deleted:
            try connection.withStatement("DELETE FROM user_directory WHERE id = ?1") { statement in
                try statement.bind(1, id)
                _ = try statement.step()
            }
        }
    }

    // MARK: Statements

    private static func insert(_ user: User, _ connection: SQLiteConnection) throws {
        do {
            try connection.withStatement(
                """
                INSERT INTO users (id, email, email_canonical, display_name, status, version, created_at, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                """
            ) { statement in
                try bindUser(user, statement)
                _ = try statement.step()
            }
        } catch let error as SQLiteError where error.isUniqueViolation {
            // The id or the e-mail exists; an existing id is a version conflict whatever the e-mail.
            if let actual = try version(of: user.id, connection) {
                throw UserError.versionConflict(user.id, expected: 0, actual: actual)
            }
            throw UserError.emailTaken(user.email)
        }
    }

    private static func update(_ user: User, expectedVersion: Int, _ connection: SQLiteConnection) throws {
        // Most changes keep the e-mail address. SQLite rewrites the e-mail index entry of every row an UPDATE
        // sets the indexed column on, even to the same value (one more page written per commit, measured:
        // 2 WAL frames instead of 1), so the e-mail columns are left out of the SET list when they match;
        // when they don't (or the version missed), the full statement below decides.
        try connection.withStatement(
            """
            UPDATE users SET display_name = ?4, status = ?5, version = ?6, created_at = ?7, updated_at = ?8
            WHERE id = ?1 AND version = ?9 AND email = ?2 AND email_canonical = ?3
            """
        ) { statement in
            try bindUser(user, statement)
            try statement.bind(9, expectedVersion)
            _ = try statement.step()
        }
        if connection.changes > 0 { return }
        do {
            try connection.withStatement(
                """
                UPDATE users SET email = ?2, email_canonical = ?3, display_name = ?4, status = ?5, version = ?6,
                    created_at = ?7, updated_at = ?8
                WHERE id = ?1 AND version = ?9
                """
            ) { statement in
                try bindUser(user, statement)
                try statement.bind(9, expectedVersion)
                _ = try statement.step()
            }
        } catch let error as SQLiteError where error.isUniqueViolation {
            throw UserError.emailTaken(user.email)
        }
        if connection.changes == 0 {
            throw missedVersion(user.id, expected: expectedVersion, connection)
        }
    }

    private static func bindUser(_ user: User, _ statement: SQLiteStatement) throws {
        try statement.bind(1, user.id.uuid)
        try statement.bind(2, user.email.value)
        try statement.bind(3, user.email.canonical)
        try statement.bind(4, user.displayName.value)
        try statement.bind(5, user.status.rawValue)
        try statement.bind(6, user.version)
        try statement.bind(7, user.createdAt.epochMilliseconds)
        try statement.bind(8, user.updatedAt.epochMilliseconds)
    }

    /// The error for a write whose `WHERE version = ?` matched nothing.
    private static func missedVersion(_ id: UserID, expected: Int, _ connection: SQLiteConnection) -> any Error {
        do {
            guard let actual = try version(of: id, connection) else { return UserError.notFound(id) }
            return UserError.versionConflict(id, expected: expected, actual: actual)
        } catch {
            return error
        }
    }

    private static func version(of id: UserID, _ connection: SQLiteConnection) throws -> Int? {
        try connection.withStatement("SELECT version FROM users WHERE id = ?1") { statement in
            try statement.bind(1, id.uuid)
            return try statement.step() ? Int(statement.int64(0)) : nil
        }
    }

    private static let insertEvent = """
        INSERT INTO user_events (event_id, user_id, user_version, type, payload, occurred_at)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6)
        """

    private static func append(_ events: [UserEventEnvelope], _ connection: SQLiteConnection) throws -> EventPosition? {
        guard !events.isEmpty else { return nil }
        try append(events, with: connection.statement(insertEvent))
        return EventPosition(rawValue: connection.lastInsertRowID)
    }

    /// Appends events with the cached ``insertEvent`` statement (a bulk insert looks it up once per batch).
    private static func append(_ events: [UserEventEnvelope], with statement: SQLiteStatement) throws {
        defer { statement.reset() }
        for event in events {
            try bindEvent(event, statement)
            _ = try statement.step()
            statement.reset()
        }
    }

    /// Binds an event's columns to parameters 1–6: id, user, version, type, payload, time.
    static func bindEvent(_ event: UserEventEnvelope, _ statement: SQLiteStatement) throws {
        try statement.bind(1, event.eventID)
        try statement.bind(2, event.userID.uuid)
        try statement.bind(3, event.userVersion)
        try statement.bind(4, event.type)
        try statement.bindText(5, event.jsonUTF8())
        try statement.bind(6, event.occurredAt.epochMilliseconds)
    }

    private static func decodeUser(_ statement: SQLiteStatement) throws -> User {
        guard let uuid = statement.uuid(0), let status = UserStatus(rawValue: statement.text(4)) else {
            throw UserStoreError(.corrupt, "A stored user row can't be decoded.")
        }
        // The canonical form usually is the address itself: one String for both then.
        let email = statement.text(1)
        return User(
            id: UserID(uuid),
            email: EmailAddress(trustedValue: email, canonical: statement.sameBytes(1, 2) ? email : statement.text(2)),
            displayName: DisplayName(trustedValue: statement.text(3)),
            status: status,
            version: Int(statement.int64(5)),
            createdAt: Date(epochMilliseconds: statement.int64(6)),
            updatedAt: Date(epochMilliseconds: statement.int64(7)))
    }

    // MARK: Errors

    /// Translates SQLite's errors into the port's: domain errors and `UserStoreError` pass through,
    /// `SQLITE_INTERRUPT` becomes `CancellationError`, the rest a `UserStoreError` that names the path and
    /// keeps SQLite's error only as `underlying`.
    static func mapError(_ error: any Error, path: String, opening: Bool) -> any Error {
        guard let error = error as? SQLiteError else { return error }
        let primary = error.primaryCode
        switch primary {
        case SQLITE_INTERRUPT:
            return CancellationError()
        case SQLITE_BUSY, SQLITE_LOCKED:
            return UserStoreError(
                .unavailable, "The database \(path) is locked by another connection.", underlying: error)
        case SQLITE_NOTADB:
            return UserStoreError(.corrupt, "The file \(path) is not a SQLite database.", underlying: error)
        case SQLITE_CORRUPT:
            return UserStoreError(.corrupt, "The database \(path) is corrupt.", underlying: error)
        case SQLITE_READONLY, SQLITE_PERM, SQLITE_AUTH:
            return UserStoreError(.accessDenied, "The database \(path) can't be written.", underlying: error)
        case SQLITE_CANTOPEN:
            return UserStoreError(.accessDenied, "The database \(path) can't be opened.", underlying: error)
        case SQLITE_FULL:
            return UserStoreError(.unavailable, "The disk holding \(path) is full.", underlying: error)
        case SQLITE_IOERR:
            return UserStoreError(.unavailable, "A disk I/O error occurred on \(path).", underlying: error)
        default:
            return UserStoreError(
                .internal, opening ? "The database \(path) could not be opened." : "A SQLite operation failed.",
                underlying: error)
        }
    }
}
