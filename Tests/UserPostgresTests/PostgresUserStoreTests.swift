import CLibPQ
import Foundation
import Logging
import Testing
import UserDomain
import UserPorts
import UserPortsTesting
@testable import UserPostgres

@Suite("PostgresUserStore")
struct PostgresUserStoreTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func expectStoreError(
        _ code: UserStoreError.Code, hiding secret: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () async throws -> Void
    ) async {
        do {
            try await body()
            Issue.record("expected UserStoreError \(code), but it succeeded", sourceLocation: sourceLocation)
        } catch let error as UserStoreError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(!error.description.contains(secret), "\(error)", sourceLocation: sourceLocation)
            #expect(
                !error.debugDescription.contains(secret), "\(error.debugDescription)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected UserStoreError \(code), got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("bad URLs and credentials give clear typed errors with the password redacted")
    func badInput() async throws {
        let base = try TestPostgres.url
        let good = try #require(URLComponents(string: base))
        let host = "\(good.host!):\(good.port!)"
        let secret = "Sup3r-S3cret-Pa55"
        await expectStoreError(.invalidConfiguration, hiding: secret) {
            _ = try await PostgresUserStore.open(.init(url: "mysql://app:\(secret)@\(host)/users_test"))
        }
        await expectStoreError(.invalidConfiguration, hiding: secret) {
            _ = try await PostgresUserStore.open(
                .init(url: "postgres://app:\(secret)@\(host)/users_test?nosuchoption=1"))
        }
        await expectStoreError(.invalidConfiguration, hiding: secret) {
            _ = try await PostgresUserStore.open(.init(url: "postgres://app:\(secret)@[::1/users_test"))
        }
        await expectStoreError(.accessDenied, hiding: secret) {
            _ = try await PostgresUserStore.open(.init(url: "postgres://app:\(secret)@\(host)/users_test"))
        }
        await expectStoreError(.unavailable, hiding: secret) {
            _ = try await PostgresUserStore.open(
                .init(url: "postgres://app:\(secret)@no-such-host.invalid:5432/users_test", connectTimeout: .seconds(2))
            )
        }
        let password = good.password!
        await expectStoreError(.invalidConfiguration, hiding: password) {
            _ = try await PostgresUserStore.open(.init(url: "postgres://app:\(password)@\(host)/no_such_database"))
        }
    }

    @Test("the redacted URL hides the password in the user-info and in parameters")
    func redaction() throws {
        #expect(
            PostgresURL.redactURL("postgres://u:p%40ss@h:5432/db?sslmode=require")
                == "postgres://u:***@h:5432/db?sslmode=require")
        #expect(
            PostgresURL.redactURL("postgresql://u@h/db?password=xyz&sslmode=disable")
                == "postgresql://u@h/db?password=***&sslmode=disable")
        let url = try PostgresURL("postgres://u:hunter2@h/db", connectTimeout: .seconds(3))
        #expect(url.redact("failed for hunter2") == "failed for ***")
        #expect(url.conninfo.hasSuffix("?connect_timeout=3&application_name=swift-user-domain"))
    }

    @Test("a unix-socket URL works")
    func unixSocket() async throws {
        let url = try TestPostgres.environment("USERS_TEST_POSTGRES_SOCKET_URL")
        try await TestPostgres.withStore(url) { store in
            let user = try await UserUseCases(repository: store).register(email: "socket@example.com", displayName: "S")
            #expect(try await store.user(id: user.id) == user)
            try await store.delete(id: user.id, expectedVersion: 1, events: user.deleted(at: Date()).events)
        }
    }

    @Test("events that commit out of order are all delivered, and a history reader waits for the lower one")
    func outOfOrderCommits() async throws {
        // Its own database: it holds the shared append lock in open transactions (see withFreshDatabase).
        try await TestPostgres.withFreshDatabase { url in
            try await TestPostgres.withStore(url) { store in
                let first = PostgresWriter(url: url)
                let second = PostgresWriter(url: url)
                let early = try first.beginAndInsert(email: "early@example.com")  // takes the lower position
                let late = try second.beginAndInsert(email: "late@example.com")  // takes the higher one
                #expect(early.position < late.position)
                try second.commit()  // the higher commits first

                let publisher = RecordingPublisher()
                let relay = OutboxRelay(outbox: store, publisher: publisher, logger: logger)
                #expect(try await relay.publishPendingEvents() == 1)

                // A reader of the history (a projection) must not see the higher position before the lower one
                // is decided: it waits for the writer in flight instead of skipping its position.
                let returned = Locked(false)
                let reader = Task {
                    defer { returned.withLock { $0 = true } }
                    return try await store.events(after: nil, limit: 10)
                }
                try await Task.sleep(for: .milliseconds(300))
                #expect(returned.withLock { $0 } == false, "the history was read past a transaction in flight")

                try first.commit()  // the lower commits last
                let history = try await reader.value
                #expect(history.map(\.position.rawValue) == [early.position, late.position])
                #expect(try await relay.publishPendingEvents() == 1)
                let delivered = await publisher.events.map(\.eventID)
                #expect(Set(delivered) == [early.eventID, late.eventID])
            }
        }
    }

    @Test("relays of three processes on one database: one publishes at a time, every event once, in order")
    func relaysShareTheLease() async throws {
        try await TestPostgres.withFreshSchema { url in
            let stores = try await (0..<3).asyncMap { _ in
                try await PostgresUserStore.open(
                    .init(
                        url: url, maximumConnections: 4, acquireTimeout: Patience.safetyNet,
                        listensForCommits: false))
            }
            let service = UserUseCases(repository: stores[0])
            var expected: [UserEventEnvelope] = []
            for index in 0..<30 {
                _ = try await service.register(email: "u\(index)@example.com", displayName: "U\(index)")
            }
            expected = try await stores[0].events(after: nil, limit: 100).map(\.envelope)
            let publisher = OverlapDetectingPublisher()
            let relays = stores.enumerated().map { index, store in
                OutboxRelay(
                    outbox: store, publisher: publisher,
                    configuration: .init(batchSize: 4, pollInterval: .milliseconds(5), owner: "relay-\(index)"),
                    logger: logger)
            }
            let running = relays.map { relay in Task { try await relay.run() } }
            try #require(await publisher.waitForEvents(count: expected.count))
            for task in running { task.cancel() }
            for task in running { try await task.value }
            #expect(await publisher.overlapped == false, "two relays published at the same time")
            #expect(await publisher.events == expected, "every event once, in position order")
            for store in stores { await store.close() }
        }
    }

    @Test("three stores migrating one empty schema at once apply it exactly once")
    func concurrentMigration() async throws {
        try await TestPostgres.withFreshSchema { url in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask { try await TestPostgres.withStore(url) { _ in } }
                }
                try await group.waitForAll()
            }
            let connection = try PostgresConnection(conninfo: url)
            let result = try connection.execute("SELECT count(*), max(version) FROM schema_migrations")
            #expect(result.int64(0, 0) == Int64(PostgresSchema.migrations.count), "each migration once")
            #expect(result.int64(0, 1) == Int64(PostgresSchema.latestVersion))
        }
    }

    /// The schema at version 3 holding `users` (id and address) with version 3's canonical form (`lower`), in
    /// the users table and the directory.
    func makeVersion3Schema(_ url: String, _ users: [(UserID, String)]) throws {
        let connection = try PostgresConnection(conninfo: url)
        try connection.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        for migration in PostgresSchema.migrations where migration.version <= 3 {
            try connection.execute(migration.sql)
            try connection.execute("INSERT INTO schema_migrations (version) VALUES (\(migration.version))")
        }
        for (id, email) in users {
            try connection.query(
                """
                INSERT INTO users (id, email, email_canonical, display_name, status, version, created_at, updated_at)
                VALUES ($1::uuid, $2, $3, 'User', 'active', 1, now(), now())
                """, [id.description, email, email.lowercased()])
            try connection.query(
                """
                INSERT INTO user_directory (id, email, email_canonical, display_name, display_name_folded, status,
                    version, created_at, updated_at)
                VALUES ($1::uuid, $2, $3, 'User', 'user', 'active', 1, now(), now())
                """, [id.description, email, email.lowercased()])
        }
    }

    @Test("versions 4 to 7 upgrade a version 3 schema: e-mail forms rewritten, the directory moved to the replica, its counters counted")
    func upgradeFromVersion3() async throws {
        try await TestPostgres.withFreshSchema { url in
            let (idn, wide, greek, plain) = (UserID(UUID()), UserID(UUID()), UserID(UUID()), UserID(UUID()))
            try makeVersion3Schema(
                url,
                [(idn, "Idn@Bücher.DE"), (wide, "fd@ｅｘａｍｐｌｅ.com"), (greek, "ΣΊΣΥΦΟΣ@example.gr"),
                    (plain, "Plain@Example.com")])
            // The directory had projected up to position 7 (its events were since trimmed by retention).
            try PostgresConnection(conninfo: url).execute(
                "UPDATE projection_checkpoints SET position = 7 WHERE name = 'directory'")
            try await TestPostgres.withStore(url) { store in
                let replica = store.directoryReplica
                #expect(try await replica.backfillPosition() == EventPosition(rawValue: 7), "the checkpoint moved over")
                #expect(try await replica.statistics() == DirectoryStatistics(active: 4, deactivated: 0))
                #expect(try await replica.search(prefix: "idn@", limit: 10).map(\.id) == [idn])
                #expect(try await replica.appliedVersion(of: plain) == 1)
                let expected = [
                    (idn, "idn@bücher.de", "idn@xn--bcher-kva.de"), (wide, "fd@example.com", "fd@example.com"),
                    (greek, "σίσυφος@example.gr", "σίσυφοσ@example.gr"),
                    (plain, "plain@example.com", "plain@example.com"),
                ]
                for (id, other, canonical) in expected {
                    let found = try #require(try await store.user(email: EmailAddress(other)), "\(other)")
                    #expect(found.id == id)
                    #expect(found.email.canonical == canonical)
                    let twin = User.register(
                        id: UserID(UUID()), email: try EmailAddress(other.uppercased()),
                        displayName: try DisplayName("Twin"), at: Date())
                    await #expect(throws: UserError.emailTaken(twin.user.email)) {
                        try await store.save(twin.user, expectedVersion: 0, events: twin.events)
                    }
                }
            }
            let connection = try PostgresConnection(conninfo: url)
            #expect(
                try connection.execute("SELECT max(version) FROM schema_migrations").int64(0, 0)
                    == Int64(PostgresSchema.latestVersion))
            let directory = try connection.execute(
                "SELECT string_agg(email_canonical, ' ' ORDER BY email_canonical COLLATE \"C\") FROM replica_users")
            #expect(directory.string(0, 0) == "fd@example.com idn@xn--bcher-kva.de plain@example.com σίσυφοσ@example.gr")
            #expect(try connection.execute("SELECT to_regclass('user_directory') IS NULL").string(0, 0) == "t")
        }
    }

    @Test("version 4 refuses to upgrade a schema whose users' addresses now collide, naming them, and changes nothing")
    func upgradeFromVersion3WithCollisions() async throws {
        try await TestPostgres.withFreshSchema { url in
            let ids = (0..<6).map { UserID("00000000-0000-4000-8000-00000000000\($0)")! }
            let users = [
                (ids[0], "idn@bücher.de"), (ids[1], "IDN@xn--bcher-kva.de"), (ids[2], "fd@ｅｘａｍｐｌｅ.com"),
                (ids[3], "fd@example.com"), (ids[4], "ok@bücher.de"), (ids[5], "a@xn--zz.de"),
            ]
            try makeVersion3Schema(url, users)
            do {
                try await TestPostgres.withStore(url) { _ in }
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
            let connection = try PostgresConnection(conninfo: url)
            #expect(try connection.execute("SELECT max(version) FROM schema_migrations").int64(0, 0) == 3)
            let stored = try connection.execute("SELECT string_agg(email_canonical, ' ' ORDER BY id) FROM users")
            #expect(stored.string(0, 0) == users.map { $0.1.lowercased() }.joined(separator: " "), "nothing rewritten")
        }
    }

    @Test("a writer in flight in one schema does not hold back the history of a store in another schema of the database")
    func appendLockPerSchema() async throws {
        struct StillWaiting: Error {}
        try await TestPostgres.withFreshSchema { first in
            try await TestPostgres.withFreshSchema { second in
                try await TestPostgres.withStore(first) { _ in }  // the first schema's tables
                try await TestPostgres.withStore(second) { store in
                    let elsewhere = try await UserUseCases(repository: store).register(
                        email: "here@example.com", displayName: "Here")
                    // A writer of the first schema, under its append lock, in a transaction it leaves open.
                    let writer = PostgresWriter(url: first)
                    _ = try writer.beginAndInsert(email: "inflight@example.com")
                    let history = try await withThrowingTaskGroup(of: [OutboxEvent]?.self) { group in
                        group.addTask { try await store.events(after: nil, limit: 10) }
                        group.addTask {
                            try await Task.sleep(for: Patience.safetyNet)
                            return nil
                        }
                        let first = try await group.next()!
                        group.cancelAll()
                        // Committing lets a blocked read finish, so that the group can end.
                        try writer.commit()
                        guard let first else { throw StillWaiting() }
                        return first
                    }
                    #expect(history.map(\.envelope.userID) == [elsewhere.id])
                }
            }
        }
    }

    @Test("a commit in one store wakes the LISTEN connection of another")
    func listenNotify() async throws {
        try await TestPostgres.withFreshSchema { url in
            try await TestPostgres.withStore(url, listens: true) { listener in
                try await TestPostgres.withStore(url) { writer in
                    // Wait until the listener is connected: it raises the signal once when it is.
                    try #require(
                        await listener.commitSignal.wait(after: 0, timeout: Patience.safetyNet),
                        "the listener never connected")
                    let seen = listener.commitSignal.generation
                    _ = try await UserUseCases(repository: writer).register(email: "n@example.com", displayName: "N")
                    #expect(await listener.commitSignal.wait(after: seen, timeout: Patience.safetyNet))
                }
            }
        }
    }

    @Test("a full pool makes callers wait, then fail with unavailable after the acquire timeout")
    func acquireTimeout() async throws {
        try await TestPostgres.withFreshSchema { url in
            // Hold the only connection with pg_sleep and ask for another.
            let store = try await PostgresUserStore.open(
                .init(url: url, maximumConnections: 1, acquireTimeout: .milliseconds(300), listensForCommits: false))
            // The blocker holds it for 5 s, far past the 300 ms timeout: a stalled run (TSan, a loaded machine)
            // can't free it before the caller gives up, and the bound below tells the timeout from the wait.
            let blocker = Task { try await store.sleepOnServer(seconds: 5) }
            try await TestPostgres.waitUntil(store, holds: 1)
            let started = ContinuousClock.now
            await expectStoreError(.unavailable, hiding: "test-secret-pw") {
                _ = try await store.page(after: nil, limit: 10)
            }
            #expect(ContinuousClock.now - started < .seconds(5))
            // Point lookups have a connection of their own (the lookup pipeline): a full pool doesn't stop them.
            #expect(try await store.user(id: UserID(UUID())) == nil)
            try await blocker.value
            #expect(try await store.page(after: nil, limit: 10).users.isEmpty)
            await store.close()
        }
    }

    @Test("array literals quote every element and escape quotes and backslashes")
    func arrayLiteral() {
        #expect(PostgresArray.literal([]) == "{}")
        #expect(
            PostgresArray.literal(["a", #"b"c"#, #"d\e"#, "", "ü,{} NULL", #"{"k":"v\"}"#])
                == #"{"a","b\"c","d\\e","","ü,{} NULL","{\"k\":\"v\\\"}"}"#)
    }

    @Test("concurrent point lookups share the lookup pipeline, and each caller gets its own row")
    func pipelinedLookups() async throws {
        try await TestPostgres.withFreshSchema { url in
            let store = try await PostgresUserStore.open(
                .init(url: url, acquireTimeout: Patience.safetyNet, listensForCommits: false))
            let service = UserUseCases(repository: store)
            var users: [User] = []
            for index in 0..<40 {
                users.append(try await service.register(email: "p\(index)@example.com", displayName: "P \(index)"))
            }
            let expected = users
            // 800 lookups from 16 tasks at once, by id and by e-mail, a fifth of them for nobody.
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                for task in 0..<16 {
                    group.addTask {
                        var mismatches = 0
                        for step in 0..<50 {
                            let index = (task * 7 + step) % 50
                            if index >= 40 {
                                if try await store.user(id: UserID(UUID())) != nil { mismatches += 1 }
                                if try await store.user(email: EmailAddress("nobody\(index)@example.com")) != nil {
                                    mismatches += 1
                                }
                            } else if step.isMultiple(of: 2) {
                                if try await store.user(id: expected[index].id) != expected[index] { mismatches += 1 }
                            } else {
                                if try await store.user(email: expected[index].email) != expected[index] {
                                    mismatches += 1
                                }
                            }
                        }
                        return mismatches
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(mismatches == 0)
            await store.close()
            await expectStoreError(.closed, hiding: "test-secret-pw") {
                _ = try await store.user(id: expected[0].id)
            }
        }
    }

    @Test("without lookup connections, lookups go through the pool")
    func lookupsThroughThePool() async throws {
        try await TestPostgres.withFreshSchema { url in
            let store = try await PostgresUserStore.open(
                .init(
                    url: url, maximumConnections: 1, lookupConnections: 0, acquireTimeout: .milliseconds(300),
                    listensForCommits: false))
            let user = try await UserUseCases(repository: store).register(email: "pool@example.com", displayName: "P")
            #expect(try await store.user(id: user.id) == user)
            #expect(try await store.user(email: user.email) == user)
            #expect(try await store.user(id: UserID(UUID())) == nil)
            // The pool's only connection held: a lookup waits for it, then fails like any pooled operation.
            // Held for 5 s, far past the 300 ms timeout, so that a stalled run can't free it first.
            let blocker = Task { try await store.sleepOnServer(seconds: 5) }
            try await TestPostgres.waitUntil(store, holds: 1)
            await expectStoreError(.unavailable, hiding: "test-secret-pw") {
                _ = try await store.user(id: user.id)
            }
            try await blocker.value
            await store.close()
        }
    }

    @Test("cancelling a task cancels its running query")
    func cancellation() async throws {
        try await TestPostgres.withFreshSchema { url in
            let store = try await PostgresUserStore.open(
                .init(url: url, acquireTimeout: Patience.safetyNet, listensForCommits: false))
            let started = ContinuousClock.now
            let sleeper = Task { try await store.sleepOnServer(seconds: 30) }
            try await Task.sleep(for: .milliseconds(300))
            sleeper.cancel()
            await #expect(throws: CancellationError.self) { try await sleeper.value }
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(try await store.user(id: UserID(UUID())) == nil)
            await store.close()
        }
    }
}

/// A raw connection that writes an event in a transaction it leaves open, for the out-of-order test.
final class PostgresWriter {
    let connection: PostgresConnection

    init(url: String) {
        connection = try! PostgresConnection(conninfo: url)
    }

    func beginAndInsert(email: String) throws -> (position: Int64, eventID: UUID) {
        try connection.execute("BEGIN")
        // As the store does: positions are drawn under the shared append lock.
        _ = try connection.query("SELECT pg_advisory_xact_lock_shared(\(PostgresSchema.appendLock))")
        let user = User.register(
            id: UserID(UUID()), email: try EmailAddress(email), displayName: try DisplayName("W"), at: Date())
        let event = user.events[0]
        let result = try connection.query(
            """
            INSERT INTO user_events (event_id, user_id, user_version, type, payload, occurred_at)
            VALUES ($1::uuid, $2::uuid, 1, $3, $4::jsonb, now()) RETURNING position
            """,
            [
                event.eventID.uuidString, event.userID.description, event.type,
                String(decoding: event.jsonData(), as: UTF8.self),
            ])
        return (result.int64(0, 0), event.eventID)
    }

    func commit() throws {
        try connection.execute("COMMIT")
    }
}

extension Sequence {
    /// Maps with an async transform, in order.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
