@testable import UserPostgres

extension PostgresUserStore {
    /// Holds a pooled connection in `pg_sleep` on the server: for tests of the pool and of cancellation.
    func sleepOnServer(seconds: Double) async throws {
        try await withConnection { connection in
            _ = try connection.query("SELECT pg_sleep($1::float8)", [String(seconds)])
        }
    }
}
