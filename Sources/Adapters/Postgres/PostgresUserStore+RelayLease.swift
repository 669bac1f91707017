import Foundation
import UserAdapterSupport
import UserPorts

/// ``RelayLease``: the lease that lets one relay publish at a time, one row of `relay_lease`.
extension PostgresUserStore {
    /// Takes or renews the relay lease, on the server's clock (so relays on machines whose clocks differ
    /// agree on when a lease ends).
    public func acquireRelayLease(owner: String, duration: Duration) async throws -> Bool {
        let milliseconds = duration.wholeMilliseconds
        return try await withConnection { connection in
            try connection.query(
                """
                INSERT INTO relay_lease (name, owner, expires_at)
                VALUES ('outbox', $1, now() + $2::int8 * interval '1 millisecond')
                ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                WHERE relay_lease.owner = excluded.owner OR relay_lease.expires_at <= now()
                RETURNING owner
                """, [owner, String(milliseconds)]
            ).rowCount == 1
        }
    }

    /// Gives the lease up when `owner` holds it.
    public func releaseRelayLease(owner: String) async throws {
        try await withConnection { connection in
            _ = try connection.query("DELETE FROM relay_lease WHERE name = 'outbox' AND owner = $1", [owner])
        }
    }
}
