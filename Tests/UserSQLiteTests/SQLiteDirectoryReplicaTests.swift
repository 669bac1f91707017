import CSQLite
import Foundation
import Testing
import UserDomain
import UserPorts
import UserPortsTesting
@testable import UserSQLite

@Suite("SQLiteDirectoryReplica")
struct SQLiteDirectoryReplicaTests {
    @Test(arguments: DirectoryReplicaContract.checks)
    func contract(_ check: DirectoryReplicaContract.Check) async throws {
        try await DirectoryReplicaContract { body in
            try await withTemporaryDirectory { directory in
                let replica = try await SQLiteDirectoryReplica.open(path: directory.appendingPathComponent("r.sqlite").path)
                do {
                    try await body(replica)
                } catch {
                    await replica.close()
                    throw error
                }
                await replica.close()
            }
        }.run(check)
    }

    @Test("the directory in a user store's file", arguments: DirectoryReplicaContract.checks)
    func hostedContract(_ check: DirectoryReplicaContract.Check) async throws {
        try await DirectoryReplicaContract { body in
            try await withTemporaryDirectory { directory in
                let store = try await SQLiteUserStore.open(.init(path: directory.appendingPathComponent("u.sqlite").path))
                do {
                    try await body(store.directoryReplica)
                } catch {
                    await store.close()
                    throw error
                }
                await store.close()
            }
        }.run(check)
    }

    @Test("applied versions, tombstones and the backfill position survive a reopen")
    func reopen() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("r.sqlite").path
            let id = UserID(UUID())
            let registered = UserEventEnvelope(
                eventID: UUID(), userID: id, userVersion: 1, occurredAt: Date(),
                event: .registered(email: try EmailAddress("kim@example.com"), displayName: try DisplayName("Kim")))
            let deleted = UserEventEnvelope(eventID: UUID(), userID: id, userVersion: 2, occurredAt: Date(), event: .deleted)
            let first = try await SQLiteDirectoryReplica.open(path: path)
            _ = try await first.applyBackfill([registered, deleted], reaching: EventPosition(rawValue: 2))
            await first.close()
            let second = try await SQLiteDirectoryReplica.open(path: path)
            #expect(try await second.apply(registered) == .duplicate)
            #expect(try await second.appliedVersion(of: id) == 2)
            #expect(try await second.backfillPosition() == EventPosition(rawValue: 2))
            #expect(try await second.search(prefix: "", limit: 10).isEmpty)
            await second.close()
        }
    }

    @Test("a replica file of schema version 1 (no counters) is upgraded: its counts counted once from its rows")
    func upgradeFromVersion1() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("r.sqlite").path
            let (ada, bea) = (UserID(UUID()), UserID(UUID()))
            func registered(_ id: UserID, _ name: String) throws -> UserEventEnvelope {
                UserEventEnvelope(
                    eventID: UUID(), userID: id, userVersion: 1, occurredAt: Date(),
                    event: .registered(
                        email: try EmailAddress("\(name.lowercased())@example.com"), displayName: try DisplayName(name)))
            }
            let first = try await SQLiteDirectoryReplica.open(path: path)
            _ = try await first.apply([
                try registered(ada, "Ada"), try registered(bea, "Bea"),
                UserEventEnvelope(eventID: UUID(), userID: bea, userVersion: 2, occurredAt: Date(), event: .deactivated),
            ])
            await first.close()
            do {
                // As the release before wrote it: version 1, no counters.
                let connection = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE)
                try connection.execute("DELETE FROM replica_state WHERE name <> 'backfill_position'; PRAGMA user_version = 1")
            }
            let second = try await SQLiteDirectoryReplica.open(path: path)
            #expect(try await second.statistics() == DirectoryStatistics(active: 1, deactivated: 1))
            _ = try await second.apply(
                UserEventEnvelope(eventID: UUID(), userID: ada, userVersion: 2, occurredAt: Date(), event: .deleted))
            #expect(try await second.statistics() == DirectoryStatistics(active: 0, deactivated: 1))
            await second.close()
            let connection = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE)
            #expect(try connection.scalarText("PRAGMA user_version") == "2")
        }
    }
}
