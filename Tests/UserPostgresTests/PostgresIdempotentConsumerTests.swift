import Foundation
import Testing
import UserDomain
import UserPorts
import UserPortsTesting
@testable import UserPostgres

@Suite("PostgresIdempotentConsumer")
struct PostgresIdempotentConsumerTests {
    @Test("two consumer instances racing over redeliveries apply each event once; a failed effect is retried")
    func idempotent() async throws {
        try await TestPostgres.withFreshSchema { url in
            try TestPostgres.run(url, "CREATE TABLE mail (user_id uuid NOT NULL)")
            let first = try await PostgresIdempotentConsumer.open(
                url: url, name: "welcome-mail", acquireTimeout: Patience.safetyNet)
            let second = try await PostgresIdempotentConsumer.open(
                url: url, name: "welcome-mail", acquireTimeout: Patience.safetyNet)
            let events = try (0..<5).map { index in
                User.register(
                    id: UserID(UUID()), email: try EmailAddress("u\(index)@example.com"),
                    displayName: try DisplayName("U"), at: Date()
                ).events[0]
            }
            struct Refused: Error {}
            await #expect(throws: Refused.self) {
                try await first.handle(events[0]) { db in
                    try db.execute("INSERT INTO mail (user_id) VALUES ($1::uuid)", [events[0].userID.description])
                    throw Refused()
                }
            }
            #expect(try await first.hasProcessed(events[0]) == false)
            let applied = try await withThrowingTaskGroup(of: Bool.self) { group in
                for round in 0..<4 {
                    for event in events {
                        let consumer = round.isMultiple(of: 2) ? first : second
                        group.addTask {
                            try await consumer.handle(event) { db in
                                try db.execute(
                                    "INSERT INTO mail (user_id) VALUES ($1::uuid)", [event.userID.description])
                            }
                        }
                    }
                }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            #expect(applied == events.count, "20 deliveries of 5 events, 5 effects")
            let counted = try await first.handle(
                User.register(
                    id: UserID(UUID()), email: try EmailAddress("x@example.com"), displayName: try DisplayName("X"),
                    at: Date()
                ).events[0]
            ) { db in
                let counts = try db.query("SELECT count(*), count(DISTINCT user_id) FROM mail")
                #expect(counts == [["5", "5"]])
            }
            #expect(counted)
            await first.close()
            await second.close()
        }
    }

    @Test("a batch runs each new event's effect in one transaction; duplicates are skipped; a failure rolls all back")
    func batch() async throws {
        try await TestPostgres.withFreshSchema { url in
            try TestPostgres.run(url, "CREATE TABLE seen (user_id uuid NOT NULL)")
            let consumer = try await PostgresIdempotentConsumer.open(
                url: url, name: "batch", acquireTimeout: Patience.safetyNet)
            let events = try (0..<3).map { index in
                User.register(
                    id: UserID(UUID()), email: try EmailAddress("b\(index)@example.com"),
                    displayName: try DisplayName("B"), at: Date()
                ).events[0]
            }
            struct Refused: Error {}
            await #expect(throws: Refused.self) {
                try await consumer.handle([events[0], events[1]]) { db, event in
                    try db.execute("INSERT INTO seen (user_id) VALUES ($1::uuid)", [event.userID.description])
                    if event == events[1] { throw Refused() }
                }
            }
            #expect(try await consumer.hasProcessed(events[0]) == false, "the whole batch rolled back")
            let ran = try await consumer.handle([events[0], events[1], events[0], events[2]]) { db, event in
                try db.execute("INSERT INTO seen (user_id) VALUES ($1::uuid)", [event.userID.description])
            }
            #expect(ran == [true, true, false, true])
            let again = try await consumer.handle(events) { _, _ in Issue.record("a duplicate ran its effect") }
            #expect(again == [false, false, false])
            #expect(try PostgresConnection(conninfo: url).query("SELECT count(*) FROM seen").string(0, 0) == "3")
            await consumer.close()
        }
    }
}
