import Foundation
import Testing
import UserDomain
import UserPorts
import UserSQLite

@Suite("SQLiteIdempotentConsumer")
struct SQLiteIdempotentConsumerTests {
    static func event() throws -> UserEventEnvelope {
        User.register(
            id: UserID(UUID()), email: try EmailAddress("ada@example.com"), displayName: try DisplayName("Ada"),
            at: Date()
        ).events[0]
    }

    @Test("a redelivered event has no second effect; a failed effect leaves the event to be retried")
    func idempotent() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("consumer-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("mailer.sqlite").path
        let consumer = try await SQLiteIdempotentConsumer.open(path: path, name: "welcome-mail")
        let event = try Self.event()
        struct Refused: Error {}

        _ = try await consumer.handle(event) { db in
            try db.execute("CREATE TABLE IF NOT EXISTS mail (user_id TEXT NOT NULL)")
        }
        let second = try Self.event()
        await #expect(throws: Refused.self) {
            try await consumer.handle(second) { db in
                try db.execute("INSERT INTO mail (user_id) VALUES (?1)", [.text(second.userID.description)])
                throw Refused()
            }
        }
        #expect(try await consumer.hasProcessed(second) == false, "a failed effect is rolled back with its record")
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    try await consumer.handle(second) { db in
                        try db.execute("INSERT INTO mail (user_id) VALUES (?1)", [.text(second.userID.description)])
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 1, "ten deliveries, one effect")
        #expect(try await consumer.handle(second) { _ in Issue.record("a duplicate ran its effect") } == false)
        let rows = try await consumer.handle(try Self.event()) { db in
            let rows = try db.query("SELECT count(*) FROM mail WHERE user_id = ?1", [.text(second.userID.description)])
            #expect(rows == [[.integer(1)]])
        }
        #expect(rows)
        await consumer.close()

        // The ledger survives a reopen: a redelivery after a restart is still a duplicate.
        let reopened = try await SQLiteIdempotentConsumer.open(path: path, name: "welcome-mail")
        #expect(try await reopened.hasProcessed(second))
        let other = try await SQLiteIdempotentConsumer.open(path: path, name: "another-consumer")
        #expect(try await other.hasProcessed(second) == false, "ledgers are per consumer")
        await reopened.close()
        await other.close()
    }

    @Test("a batch runs each new event's effect in one transaction; duplicates in and across batches are skipped; a failure rolls all back")
    func batch() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("consumer-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let consumer = try await SQLiteIdempotentConsumer.open(
            path: directory.appendingPathComponent("c.sqlite").path, name: "batch")
        let events = try (0..<4).map { _ in try Self.event() }
        struct Refused: Error {}
        _ = try await consumer.handle(events[0]) { db in try db.execute("CREATE TABLE seen (user_id TEXT NOT NULL)") }
        @Sendable func insert(_ db: borrowing SQLiteTransaction, _ event: UserEventEnvelope) throws {
            try db.execute("INSERT INTO seen (user_id) VALUES (?1)", [.text(event.userID.description)])
        }
        await #expect(throws: Refused.self) {
            try await consumer.handle([events[1], events[2]]) { db, event in
                try insert(db, event)
                if event == events[2] { throw Refused() }
            }
        }
        #expect(try await consumer.hasProcessed(events[1]) == false, "the whole batch rolled back")
        let ran = try await consumer.handle([events[0], events[1], events[2], events[1], events[3]]) { db, event in
            try insert(db, event)
        }
        #expect(ran == [false, true, true, false, true])
        let none = try await consumer.handle([]) { _, _ in Issue.record("an empty batch ran an effect") }
        #expect(none.isEmpty)
        _ = try await consumer.handle(try Self.event()) { db in
            let rows = try db.query("SELECT count(*) FROM seen")
            #expect(rows == [[.integer(3)]])
        }
        await consumer.close()
    }

    @Test("the application's tables are made once at open; its failing statement shows SQLite's own message, not a generic one")
    func setUpAndEffectErrors() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("consumer-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("mailer.sqlite").path
        for _ in 0..<2 {  // opened twice: the set-up runs at every open, and is written to be repeatable
            let consumer = try await SQLiteIdempotentConsumer.open(path: path, name: "welcome-mail") { db in
                try db.execute("CREATE TABLE IF NOT EXISTS mail (user_id TEXT NOT NULL)")
            }
            let event = try Self.event()
            #expect(try await consumer.handle(event) { db in
                try db.execute("INSERT INTO mail (user_id) VALUES (?1)", [.text("\(event.userID)")])
            })
            await consumer.close()
        }
        let consumer = try await SQLiteIdempotentConsumer.open(path: path, name: "welcome-mail")
        let event = try Self.event()
        do {
            try await consumer.handle(event) { db in
                try db.execute("INSERT INTO welcome_mail (user_id) VALUES (?1)", [.text("\(event.userID)")])
            }
            Issue.record("an insert into a missing table succeeded")
        } catch let error as SQLiteEffectError {
            #expect(error.message.contains("no such table: welcome_mail"), "\(error)")
            #expect(error.sql.contains("INSERT INTO welcome_mail"))
            #expect(!error.description.contains("\(event.userID)"), "bound values are not part of it")
        }
        #expect(try await !consumer.hasProcessed(event), "rolled back: the event is left to be retried")
        await #expect(throws: SQLiteEffectError.self) {
            _ = try await SQLiteIdempotentConsumer.open(path: path, name: "broken") { db in
                try db.execute("CREATE TABLE mail (user_id TEXT NOT NULL)")  // exists: fails, with SQLite's words
            }
        }
        await consumer.close()
    }
}
