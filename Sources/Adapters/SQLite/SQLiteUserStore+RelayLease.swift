import Foundation
import UserAdapterSupport
import UserDomain
import UserPorts

/// ``RelayLease``: the lease that lets one relay publish at a time, one row of `relay_lease`.
extension SQLiteUserStore {
    /// Takes or renews the relay lease, on this machine's clock (a SQLite file is shared by processes of
    /// one machine only).
    public func acquireRelayLease(owner: String, duration: Duration) async throws -> Bool {
        let now = Date().epochMilliseconds
        let milliseconds = duration.wholeMilliseconds
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
}
