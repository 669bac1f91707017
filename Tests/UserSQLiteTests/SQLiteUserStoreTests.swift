import CSQLite
import Dispatch
import Foundation
import Logging
import Testing
import UserDomain
import UserPorts
import UserPortsTesting
@testable import UserSQLite

@Suite("SQLiteUserStore")
struct SQLiteUserStoreTests {
    func expectStoreError(
        _ code: UserStoreError.Code, mentioning path: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () async throws -> Void
    ) async {
        do {
            try await body()
            Issue.record("expected UserStoreError \(code), but it succeeded", sourceLocation: sourceLocation)
        } catch let error as UserStoreError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.contains(path), "\(error)", sourceLocation: sourceLocation)
            #expect(!error.description.contains("SELECT") && !error.description.contains("INSERT"))
        } catch {
            Issue.record("expected UserStoreError \(code), got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("data survives closing and reopening; a missing folder is created")
    func reopen() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("nested/deeper/users.sqlite").path
            var store = try await SQLiteUserStore.open(.init(path: path, synchronous: .full))
            let user = try await UserUseCases(repository: store).register(email: "Ada@Example.com", displayName: "Ada")
            await store.close()
            store = try await SQLiteUserStore.open(.init(path: path))
            #expect(try await store.user(id: user.id) == user)
            #expect(try await store.unpublishedEvents(limit: 10).count == 1)
            await store.close()
        }
    }

    @Test(
        "a database file (or its write-ahead log) removed or replaced while open: every write is refused, none acknowledged",
        arguments: ["removed", "replaced", "log removed"])
    func removedFileRefusesWrites(_ how: String) async throws {
        try await withTemporaryDirectory { directory in
            do {
                let replace = how == "replaced"
                let path = directory.appendingPathComponent("moved.sqlite").path
                let store = try await SQLiteUserStore.open(.init(path: path))
                let users = UserUseCases(repository: store)
                let kept = try await users.register(email: "kept@example.com", displayName: "Kept")
                // The log alone: SQLite would go on writing to the log it has open, and a crash would lose it all.
                for suffix in how == "log removed" ? ["-wal"] : ["", "-wal", "-shm"] { unlink(path + suffix) }
                if replace {
                    // Another file under the same name (a restore, a mistaken copy): still not the open one.
                    let other = try await SQLiteUserStore.open(.init(path: path))
                    await other.close()
                }
                await expectStoreError(.unavailable, mentioning: path) {
                    _ = try await users.register(email: "lost@example.com", displayName: "Lost")
                }
                await expectStoreError(.unavailable, mentioning: path) {
                    _ = try await users.rename(kept.id, to: "Renamed")
                }
                await expectStoreError(.unavailable, mentioning: path) {
                    try await store.markPublished([EventPosition(rawValue: 1)])
                }
                await store.close()
            }
        }
    }

    @Test("operations after close fail with code closed")
    func closed() async throws {
        let store = try await SQLiteUserStore.open(.init(path: ":memory:"))
        await store.close()
        await #expect(throws: UserStoreError(.closed, "The SQLite store is closed.")) {
            try await store.user(id: UserID(UUID()))
        }
    }

    @Test("an empty file is refused, not taken for a new database")
    func emptyFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("users.sqlite").path
            _ = FileManager.default.createFile(atPath: path, contents: Data())
            await expectStoreError(.corrupt, mentioning: path) { _ = try await SQLiteUserStore.open(.init(path: path)) }
        }
    }

    @Test("a text file is refused")
    func textFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("users.sqlite").path
            _ = FileManager.default.createFile(
                atPath: path, contents: Data(String(repeating: "hello, world\n", count: 50).utf8))
            await expectStoreError(.corrupt, mentioning: path) { _ = try await SQLiteUserStore.open(.init(path: path)) }
        }
    }

    @Test("a truncated database is refused")
    func truncatedFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("users.sqlite").path
            let store = try await SQLiteUserStore.open(.init(path: path))
            let service = UserUseCases(repository: store)
            for index in 0..<300 {
                _ = try await service.register(
                    email: "u\(index)@example.com", displayName: String(repeating: "n", count: 90))
            }
            await store.close()
            // A clean close checkpoints the WAL into the file and removes it.
            #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            let size = try handle.seekToEnd()
            try handle.truncate(atOffset: size / 2)
            try handle.close()
            await expectStoreError(.corrupt, mentioning: path) { _ = try await SQLiteUserStore.open(.init(path: path)) }
        }
    }

    @Test("a directory in place of the file is refused")
    func directoryInPlace() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("users.sqlite").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            await expectStoreError(.invalidConfiguration, mentioning: path) {
                _ = try await SQLiteUserStore.open(.init(path: path))
            }
        }
    }

    @Test("a location that can't be written is refused")
    func readOnlyLocation() async {
        // /proc refuses new folders even to root, unlike a chmod-ed folder.
        let path = "/proc/user-domain-test/users.sqlite"
        await expectStoreError(.accessDenied, mentioning: path) {
            _ = try await SQLiteUserStore.open(.init(path: path))
        }
    }

    @Test("a database locked by another connection past the busy timeout is unavailable")
    func locked() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("users.sqlite").path
            let store = try await SQLiteUserStore.open(.init(path: path))
            await store.close()
            let other = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE)
            try other.execute("BEGIN EXCLUSIVE")
            await expectStoreError(.unavailable, mentioning: path) {
                _ = try await SQLiteUserStore.open(.init(path: path, busyTimeout: .milliseconds(100)))
            }
            try other.execute("ROLLBACK")
        }
    }

    @Test("a database from a newer schema version is refused")
    func newerSchema() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("users.sqlite").path
            let store = try await SQLiteUserStore.open(.init(path: path))
            await store.close()
            let other = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE)
            try other.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)")
            await expectStoreError(.incompatibleSchema, mentioning: path) {
                _ = try await SQLiteUserStore.open(.init(path: path))
            }
        }
    }

    @Test("three stores opening one new file at once migrate it exactly once")
    func concurrentMigration() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("users.sqlite").path
            let stores = try await withThrowingTaskGroup(of: SQLiteUserStore.self) { group in
                for _ in 0..<3 { group.addTask { try await SQLiteUserStore.open(.init(path: path, readerCount: 1)) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for store in stores { await store.close() }
            let connection = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READONLY)
            let rows = try connection.scalarText("SELECT count(*) || ':' || max(version) FROM schema_migrations")
            #expect(rows == "\(SQLiteSchema.migrations.count):\(SQLiteSchema.latestVersion)", "each migration once")
        }
    }

    @Test("64 tasks mixing reads and writes, with a second store on the same file: no SQLITE_BUSY reaches a caller")
    func noBusyUnderLoad() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("users.sqlite").path
            let first = try await SQLiteUserStore.open(.init(path: path))
            let second = try await SQLiteUserStore.open(.init(path: path))
            let services = [UserUseCases(repository: first), UserUseCases(repository: second)]
            let seed = try await services[0].register(email: "seed@example.com", displayName: "Seed")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<64 {
                    group.addTask {
                        let service = services[task % 2]
                        for operation in 0..<50 {
                            switch operation % 5 {
                            case 0:
                                _ = try await service.register(
                                    email: "t\(task)-\(operation)@example.com", displayName: "T")
                            case 1:
                                _ = try await service.user(seed.id)
                            case 2:
                                _ = try await service.users(limit: 20)
                            case 3:
                                _ = try await service.user(email: "seed@example.com")
                            default:
                                // Racing renames may conflict; that is a domain outcome, not a busy error.
                                do {
                                    _ = try await service.rename(seed.id, to: "Seed \(task)-\(operation)")
                                } catch UserError.versionConflict {}
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            var count = 0
            var cursor: PageCursor?
            repeat {
                let page = try await first.page(after: cursor, limit: 1000)
                count += page.users.count
                cursor = page.nextCursor
            } while cursor != nil
            #expect(count == 1 + 64 * 10)
            await first.close()
            await second.close()
        }
    }

    @Test("a version 1 database is upgraded in place: its events keep their positions and delivery goes on")
    func upgradeFromVersion1() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("v1.sqlite").path
            let user = User.register(
                id: UserID(UUID()), email: try EmailAddress("old@example.com"), displayName: try DisplayName("Old"),
                at: Date(epochMilliseconds: 1_700_000_000_000))
            do {
                // A database as version 1 of the package wrote it: its schema, one user, one published event.
                let connection = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
                try connection.execute("PRAGMA journal_mode = WAL")
                try connection.execute(
                    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL) STRICT"
                )
                try connection.execute(SQLiteSchema.migrations[0].sql)
                try connection.execute("INSERT INTO schema_migrations VALUES (1, 0)")
                try connection.withStatement(
                    """
                    INSERT INTO users VALUES (?1, 'old@example.com', 'old@example.com', 'Old', 'active', 1,
                        1700000000000, 1700000000000)
                    """
                ) { statement in
                    try statement.bind(1, user.user.id.uuid)
                    _ = try statement.step()
                }
                let event = user.events[0]
                try connection.withStatement(
                    """
                    INSERT INTO user_events (event_id, user_id, user_version, type, payload, occurred_at, published_at)
                    VALUES (?1, ?2, 1, ?3, ?4, 1700000000000, 1700000000001)
                    """
                ) { statement in
                    try statement.bind(1, event.eventID)
                    try statement.bind(2, event.userID.uuid)
                    try statement.bind(3, event.type)
                    try statement.bind(4, String(decoding: event.jsonData(), as: UTF8.self))
                    _ = try statement.step()
                }
            }
            let store = try await SQLiteUserStore.open(.init(path: path))
            let history = try await store.events(after: nil, limit: 10)
            #expect(history.map(\.position.rawValue) == [1])
            #expect(history.first?.envelope == user.events[0])
            #expect(try await store.unpublishedEvents(limit: 10).isEmpty, "the published event stays published")
            let next = try await UserUseCases(repository: store).register(email: "new@example.com", displayName: "New")
            #expect(try await store.unpublishedEvents(limit: 10).map(\.position.rawValue) == [2])
            #expect(try await store.user(id: next.id) == next)
            let projection = DirectoryProjection(
                history: store, replica: store.directoryReplica, logger: Logger(label: "test"))
            #expect(try await projection.catchUp().applied == 2)
            #expect(try await store.directoryReplica.statistics().active == 2)
            await store.close()
        }
    }

    @Test("a version 2 outbox is upgraded to the watermark: dead, waiting and held-back events keep their state")
    func upgradeFromVersion2() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("v2.sqlite").path
            do {
                // Version 2's schema with five events: 1 published; 2 dead (Ada); 3 waiting for a retry (Bob);
                // 4 Ada's, held back behind 2; 5 Cy's, due.
                let connection = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
                try connection.execute("PRAGMA journal_mode = WAL")
                try connection.execute(
                    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL) STRICT"
                )
                for migration in SQLiteSchema.migrations where migration.version <= 2 {
                    try connection.execute(migration.sql)
                    try connection.execute("INSERT INTO schema_migrations VALUES (\(migration.version), 0)")
                }
                let users = [UUID(), UUID(), UUID()]
                let rows: [(user: Int, published: Bool, dead: Bool, retryAt: Int64?)] = [
                    (0, true, false, nil), (0, false, true, nil), (1, false, false, 4_000_000_000_000),
                    (0, false, false, nil), (2, false, false, nil),
                ]
                for (index, row) in rows.enumerated() {
                    let event = UserEventEnvelope(
                        eventID: UUID(), userID: UserID(users[row.user]), userVersion: index + 1,
                        occurredAt: Date(epochMilliseconds: 1_700_000_000_000 + Int64(index)),
                        event: .renamed(displayName: try DisplayName("Name \(index)"), previous: try DisplayName("Old"))
                    )
                    try connection.withStatement(
                        """
                        INSERT INTO user_events (event_id, user_id, user_version, type, payload, occurred_at,
                            published_at, attempts, retry_at, dead)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                        """
                    ) { statement in
                        try SQLiteUserStore.bindEvent(event, statement)
                        if row.published { try statement.bind(7, 1) } else { try statement.bindNull(7) }
                        try statement.bind(8, row.dead || row.retryAt != nil ? 1 : 0)
                        if let retryAt = row.retryAt {
                            try statement.bind(9, retryAt)
                        } else {
                            try statement.bindNull(9)
                        }
                        try statement.bind(10, row.dead ? 1 : 0)
                        _ = try statement.step()
                    }
                }
            }
            let store = try await SQLiteUserStore.open(.init(path: path))
            #expect(try await store.unpublishedEvents(limit: 10).map(\.position.rawValue) == [5])
            #expect(try await store.deadEvents(limit: 10).map(\.position.rawValue) == [2])
            #expect(try await store.outboxStatus().pendingCount == 3)
            try await store.markPublished([EventPosition(rawValue: 5)])
            #expect(try await store.unpublishedEvents(limit: 10).isEmpty, "Ada's and Bob's wait")
            #expect(try await store.retryDeadEvents(nil) == 1)
            try await store.markFailed(
                EventPosition(rawValue: 3), reason: "again", retryAt: Date(timeIntervalSince1970: 0))
            #expect(try await store.unpublishedEvents(limit: 10).map(\.position.rawValue) == [2, 3, 4])
            try await store.markPublished([2, 3, 4].map { EventPosition(rawValue: $0) })
            #expect(try await store.outboxStatus() == OutboxStatus(pendingCount: 0, oldestPendingAt: nil, deadCount: 0))
            await store.close()
        }
    }

    /// A database at schema version 3 holding `users` (id and address) with version 3's canonical form
    /// (`lower`), in the users table and the directory.
    func makeVersion3Database(_ path: String, _ users: [(UserID, String)]) throws {
        let connection = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        try connection.execute("PRAGMA journal_mode = WAL")
        try connection.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL) STRICT")
        for migration in SQLiteSchema.migrations where migration.version <= 3 {
            try connection.execute(migration.sql)
            try connection.execute("INSERT INTO schema_migrations VALUES (\(migration.version), 0)")
        }
        for (id, email) in users {
            for table in ["users", "user_directory"] {
                let extra = table == "users" ? "" : ", display_name_folded"
                let extraValue = table == "users" ? "" : ", 'user'"
                try connection.withStatement(
                    """
                    INSERT INTO \(table) (id, email, email_canonical, display_name\(extra), status, version,
                        created_at, updated_at)
                    VALUES (?1, ?2, ?3, 'User'\(extraValue), 'active', 1, 1700000000000, 1700000000000)
                    """
                ) { statement in
                    try statement.bind(1, id.uuid)
                    try statement.bind(2, email)
                    try statement.bind(3, email.lowercased())
                    _ = try statement.step()
                }
            }
        }
    }

    @Test("versions 4 to 6 upgrade a version 3 database: e-mail forms rewritten, the directory moved to the replica, its counters counted")
    func upgradeFromVersion3() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("v3.sqlite").path
            let (idn, wide, greek, plain) = (UserID(UUID()), UserID(UUID()), UserID(UUID()), UserID(UUID()))
            try makeVersion3Database(
                path,
                [(idn, "Idn@Bücher.DE"), (wide, "fd@ｅｘａｍｐｌｅ.com"), (greek, "ΣΊΣΥΦΟΣ@example.gr"),
                    (plain, "Plain@Example.com")])
            do {
                // The directory had projected up to position 7 (its events were since trimmed by retention).
                let connection = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE)
                try connection.execute("UPDATE projection_checkpoints SET position = 7 WHERE name = 'directory'")
            }
            let store = try await SQLiteUserStore.open(.init(path: path))
            let replica = store.directoryReplica
            #expect(try await replica.backfillPosition() == EventPosition(rawValue: 7), "the checkpoint moved over")
            #expect(try await replica.statistics() == DirectoryStatistics(active: 4, deactivated: 0))
            #expect(try await replica.search(prefix: "idn@", limit: 10).map(\.id) == [idn])
            #expect(try await replica.appliedVersion(of: plain) == 1)
            let expected = [
                (idn, "idn@bücher.de", "idn@xn--bcher-kva.de"), (wide, "fd@example.com", "fd@example.com"),
                (greek, "σίσυφος@example.gr", "σίσυφοσ@example.gr"), (plain, "plain@example.com", "plain@example.com"),
            ]
            for (id, other, canonical) in expected {
                let found = try #require(try await store.user(email: EmailAddress(other)), "\(other)")
                #expect(found.id == id)
                #expect(found.email.canonical == canonical)
                let twin = User.register(
                    id: UserID(UUID()), email: try EmailAddress(other.uppercased()), displayName: try DisplayName("Twin"),
                    at: Date())
                await #expect(throws: UserError.emailTaken(twin.user.email)) {
                    try await store.save(twin.user, expectedVersion: 0, events: twin.events)
                }
            }
            await store.close()
            let connection = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE)
            #expect(try connection.scalarText("SELECT max(version) FROM schema_migrations") == "\(SQLiteSchema.latestVersion)")
            #expect(
                try connection.scalarText("SELECT group_concat(email_canonical, ' ') FROM (SELECT email_canonical FROM replica_users ORDER BY 1)")
                    == "fd@example.com idn@xn--bcher-kva.de plain@example.com σίσυφοσ@example.gr")
            #expect(try connection.scalarText("SELECT count(*) FROM sqlite_schema WHERE name = 'user_directory'") == "0")
        }
    }

    @Test("version 4 refuses to upgrade a database whose users' addresses now collide, naming them, and changes nothing")
    func upgradeFromVersion3WithCollisions() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("v3.sqlite").path
            let ids = (0..<6).map { OrderedIDs.orderedID($0) }
            let users = [
                (ids[0], "idn@bücher.de"), (ids[1], "IDN@xn--bcher-kva.de"), (ids[2], "fd@ｅｘａｍｐｌｅ.com"),
                (ids[3], "fd@example.com"), (ids[4], "ok@bücher.de"), (ids[5], "a@xn--zz.de"),
            ]
            try makeVersion3Database(path, users)
            do {
                _ = try await SQLiteUserStore.open(.init(path: path))
                Issue.record("the migration was applied")
            } catch let error as UserStoreError {
                #expect(error.code == .migrationConflict)
                #expect(
                    error.message
                        == "Schema version 4 compares e-mail addresses by a new canonical form (IDNA A-labels, Unicode "
                        + "case folding and compatibility normalisation), and these users' e-mail addresses now name one "
                        + "mailbox: user \(ids[0]) <idn@bücher.de> and user \(ids[1]) <IDN@xn--bcher-kva.de> are all "
                        + "idn@xn--bcher-kva.de; user \(ids[2]) <fd@ｅｘａｍｐｌｅ.com> and user \(ids[3]) <fd@example.com> "
                        + "are all fd@example.com. Also, these users' e-mail addresses are no longer accepted: user "
                        + "\(ids[5]) <a@xn--zz.de> (invalidDomain). The migration was not applied and nothing was "
                        + "changed: give these users distinct, valid addresses (or delete all but one) with the previous "
                        + "version, then open the store again.", "\(error.message)")
                #expect(!error.message.contains("ok@bücher.de"), "a user who collides with nobody is not named")
            }
            let connection = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE)
            #expect(try connection.scalarText("SELECT max(version) FROM schema_migrations") == "3")
            let stored = try connection.scalarText(
                "SELECT group_concat(email_canonical, ' ') FROM (SELECT email_canonical FROM users ORDER BY id)")
            #expect(stored == users.map { $0.1.lowercased() }.joined(separator: " "), "nothing rewritten")
        }
    }

    @Test("the log is copied into the database in the background, and stays bounded under steady writes")
    func backgroundCheckpoints() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("log.sqlite").path
            func size(_ file: String) -> Int {
                ((try? FileManager.default.attributesOfItem(atPath: file)[.size]) as? Int) ?? 0
            }
            let store = try await SQLiteUserStore.open(.init(path: path))
            let service = UserUseCases(repository: store)
            let before = size(path)
            // Past the threshold (1,000 pages) and below the limit: only the checkpointer copies the log.
            for index in 0..<600 {
                _ = try await service.register(email: "user\(index)@example.com", displayName: "User \(index)")
            }
            // Automatic checkpoints are off and the writer's own is 4,000 pages away: the database file can
            // only grow by the checkpointer's copy. How many pages that copy holds depends on how far the
            // writer had got when it began (41 pages in one CI run under TSan), so any growth is the evidence.
            let grew = try await Patience.waitUntil(pollingEvery: .milliseconds(20)) { size(path) > before }
            #expect(grew, "the database file received the log's pages")
            // Many more commits while the checkpointer is stuck (its queue blocked): the committing writer
            // copies the log itself at the limit, so the log never grows far past it.
            let checkpointer = try #require(store.checkpointer)
            let stuck = DispatchSemaphore(value: 0)
            let blocked = Task { try await checkpointer.perform { _ in stuck.wait() } }
            let frame = 4096 + 24
            var largest = 0
            for index in 0..<2500 {
                _ = try await service.register(email: "more\(index)@example.com", displayName: "More \(index)")
                largest = max(largest, size(path + "-wal"))
            }
            stuck.signal()
            try await blocked.value
            #expect(largest > Int(SQLiteCheckpointer.threshold) * frame, "the log went past the threshold")
            #expect(largest <= 32 + (Int(SQLiteCheckpointer.limit) + 500) * frame, "log of \(largest) bytes")
            #expect(try await store.page(after: nil, limit: 10).users.count == 10)
            await store.close()
        }
    }

    @Test("opening a store leaves the process's SQLite settings alone: tuning them is the app's call")
    func processSettingsNotChanged() async throws {
        let store = try await SQLiteUserStore.open(.init(path: ":memory:"))
        // No test of this process calls configureProcess(): the app's call, made by `users` for itself.
        #expect(!SQLiteUserStore.processConfigurationRequested)
        await store.close()
        #expect(SQLiteUserStore.configureProcess() == .tooLate, "SQLite is initialised now: too late, and said so")
    }

    @Test("cancelling a task interrupts its running statement, and the connection stays usable")
    func cancellationInterrupts() async throws {
        let worker = SQLiteWorker(label: "test")
        try await worker.open {
            try SQLiteConnection(path: ":memory:", flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        } setUp: { _ in
        }
        let started = ContinuousClock.now
        let long = Task {
            try await worker.perform { connection in
                // Counts to a billion: minutes, unless interrupted.
                try connection.scalarText(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT max(x) FROM c"
                )
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        long.cancel()
        do {
            _ = try await long.value
            Issue.record("the statement was not interrupted")
        } catch let error as SQLiteError {
            #expect(error.isInterrupt, "\(error)")
        } catch {
            // Cancelled before the statement began: it never ran.
            #expect(error is CancellationError, "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(30))
        let value = try await worker.perform { connection in try connection.scalarText("SELECT 42") }
        #expect(value == "42")
        await worker.close()
    }

    @Test("a cancelled store operation throws CancellationError")
    func cancelledOperation() async throws {
        let store = try await SQLiteUserStore.open(.init(path: ":memory:"))
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await store.user(id: UserID(UUID()))
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        await store.close()
    }
}

/// Ids in a known order, for messages that list users by id.
enum OrderedIDs {
    static func orderedID(_ key: Int) -> UserID {
        UserID("00000000-0000-4000-8000-" + String(repeating: "0", count: 11) + String(key))!
    }
}
