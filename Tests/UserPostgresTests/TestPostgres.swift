import Foundation
import Testing
import UserPorts
import UserPortsTesting
@testable import UserPostgres

/// The PostgreSQL server the tests run against: started by `scripts/test.sh` (see
/// `scripts/postgres-test-server.sh`), or a developer's own, named by `USERS_TEST_POSTGRES_URL`.
enum TestPostgres {
    struct NotConfigured: Error, CustomStringConvertible {
        let variable: String
        var description: String {
            "\(variable) is not set: run the tests with scripts/test.sh, which starts a throwaway PostgreSQL, or "
                + "point \(variable) at a server of your own."
        }
    }

    static func environment(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw NotConfigured(variable: name)
        }
        return value
    }

    static var url: String { get throws { try environment("USERS_TEST_POSTGRES_URL") } }

    /// `url` with extra query parameters.
    static func url(_ base: String, adding parameters: String) -> String {
        base + (base.contains("?") ? "&" : "?") + parameters
    }

    /// Runs `body` with the URL of a fresh, empty schema (first on the search path), dropped afterwards.
    static func withFreshSchema<T>(on server: String? = nil, _ body: (String) async throws -> T) async throws -> T {
        let base = try server ?? url
        let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try run(base, "CREATE SCHEMA \(schema)")
        defer { try? run(base, "DROP SCHEMA \(schema) CASCADE") }
        return try await body(url(base, adding: "options=-csearch_path%3D\(schema)"))
    }

    /// Runs `body` with the URL of a fresh, empty database, dropped afterwards: for a test that holds the store's
    /// advisory locks in transactions it leaves open. Advisory locks are per database, not per schema, so in the
    /// shared database another test's history reader, waiting for the exclusive append lock behind such a
    /// transaction, would make this test's next shared request wait behind it: a deadlock across tests.
    static func withFreshDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        let base = try url
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try run(base, "CREATE DATABASE \(name)")
        defer { try? run(base, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        let parts = base.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let head = parts[0]
        guard let slash = head.lastIndex(of: "/"), head[..<slash].hasSuffix("/") == false else {
            throw NotConfigured(variable: "USERS_TEST_POSTGRES_URL (no database name in it)")
        }
        return try await body(String(head[...slash]) + name + (parts.count > 1 ? "?" + parts[1] : ""))
    }

    /// Runs one statement on a connection of its own (blocking; test set-up only).
    static func run(_ url: String, _ sql: String) throws {
        let connection = try PostgresConnection(conninfo: url)
        try connection.execute(sql)
    }

    /// Waits until `store`'s pool has handed out `count` connections (a task holding one has got it): a fixed
    /// sleep would be too short on a loaded machine. Fails the test (and stops it) only past the safety net.
    static func waitUntil(_ store: PostgresUserStore, holds count: Int) async throws {
        try #require(
            try await Patience.waitUntil { await store.connectionsInUse >= count },
            "no task took a pooled connection")
    }

    /// Opens a store on `url` and closes it after `body`, also when `body` throws.
    ///
    /// A caller waits for a pooled connection up to the safety net, not the 5 s of production: 100 tasks
    /// on 10 connections took longer than 5 s under ThreadSanitizer on a loaded machine, and failed with
    /// `unavailable`. Tests of the acquire timeout pass a short one.
    static func withStore<T>(
        _ url: String, listens: Bool = false, maximumConnections: Int = 10,
        acquireTimeout: Duration = Patience.safetyNet,
        _ body: (PostgresUserStore) async throws -> T
    ) async throws -> T {
        let store = try await PostgresUserStore.open(
            .init(
                url: url, maximumConnections: maximumConnections, acquireTimeout: acquireTimeout,
                listensForCommits: listens))
        do {
            let result = try await body(store)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }
}
