import CSQLite
import Foundation
import Testing
import UserPorts
import UserSQLite

/// A user store and a directory replica each refuse the other's file, and another application's, instead of
/// migrating their tables into it.
@Suite("SQLite files say what they hold")
struct SQLiteDatabaseKindTests {
    static func withFolder<T>(_ body: (URL) async throws -> T) async throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kind-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        return try await body(folder)
    }

    static func expectRefusal(_ open: () async throws -> Void, naming text: String) async {
        do {
            try await open()
            Issue.record("the file was opened")
        } catch let error as UserStoreError {
            #expect(error.code == .invalidConfiguration)
            #expect(error.description.contains(text), "\(error)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("a replica refuses a store's file and a store a replica's; each reopens its own")
    func eachRefusesTheOther() async throws {
        try await Self.withFolder { folder in
            let storePath = folder.appendingPathComponent("users.sqlite").path
            let replicaPath = folder.appendingPathComponent("directory.sqlite").path
            await (try await SQLiteUserStore.open(.init(path: storePath))).close()
            await (try await SQLiteDirectoryReplica.open(path: replicaPath)).close()
            await Self.expectRefusal({ _ = try await SQLiteDirectoryReplica.open(path: storePath) }, naming: "a user store")
            await Self.expectRefusal(
                { _ = try await SQLiteUserStore.open(.init(path: replicaPath)) }, naming: "a directory replica")
            await (try await SQLiteUserStore.open(.init(path: storePath))).close()
            await (try await SQLiteDirectoryReplica.open(path: replicaPath)).close()
        }
    }

    @Test("another application's database is refused by both, and left as it was")
    func anotherApplication() async throws {
        try await Self.withFolder { folder in
            let path = folder.appendingPathComponent("other.sqlite").path
            var handle: OpaquePointer?
            #expect(sqlite3_open(path, &handle) == SQLITE_OK)
            #expect(sqlite3_exec(handle, "PRAGMA application_id = 42; CREATE TABLE notes (body TEXT)", nil, nil, nil) == SQLITE_OK)
            sqlite3_close(handle)
            await Self.expectRefusal({ _ = try await SQLiteUserStore.open(.init(path: path)) }, naming: "another application")
            await Self.expectRefusal({ _ = try await SQLiteDirectoryReplica.open(path: path) }, naming: "another application")
            #expect(sqlite3_open(path, &handle) == SQLITE_OK)
            defer { sqlite3_close(handle) }
            var statement: OpaquePointer?
            sqlite3_prepare_v2(handle, "SELECT count(*) FROM sqlite_schema WHERE name = 'users'", -1, &statement, nil)
            sqlite3_step(statement)
            #expect(sqlite3_column_int(statement, 0) == 0, "no table of the store was made in it")
            sqlite3_finalize(statement)
        }
    }

    @Test("a replica file from before the header said what it holds is still refused by the store, by its tables")
    func olderReplicaFile() async throws {
        try await Self.withFolder { folder in
            let path = folder.appendingPathComponent("old-directory.sqlite").path
            var handle: OpaquePointer?
            #expect(sqlite3_open(path, &handle) == SQLITE_OK)
            #expect(sqlite3_exec(handle, "CREATE TABLE replica_users (id BLOB PRIMARY KEY)", nil, nil, nil) == SQLITE_OK)
            sqlite3_close(handle)
            await Self.expectRefusal({ _ = try await SQLiteUserStore.open(.init(path: path)) }, naming: "a directory replica")
        }
    }
}
