import CLibPQ
import Foundation
import Logging
import UserDomain
import UserPorts

/// The statements the ports share: the user row and the event rows.
extension PostgresUserStore {
    static func userParameters(_ user: User) -> [String?] {
        [
            user.id.description, user.email.value, user.email.canonical, user.displayName.value,
            user.status.rawValue, String(user.version), String(user.createdAt.epochMilliseconds),
            String(user.updatedAt.epochMilliseconds),
        ]
    }

    /// Appends events in their order with one statement, which also sends the NOTIFY (delivered at commit,
    /// and only if the transaction commits). The rows are drawn after the shared append lock is taken (the
    /// one-row join is read before the first row is formed), which ``events(after:limit:)`` relies on.
    static func append(_ events: [UserEventEnvelope], _ connection: PostgresConnection) throws -> EventPosition?
    {
        guard !events.isEmpty else { return nil }
        let result = try connection.query(
            """
            WITH inserted AS (
                INSERT INTO user_events (event_id, user_id, user_version, type, payload, occurred_at)
                SELECT event_id, user_id, user_version, type, payload, to_timestamp(occurred / 1000.0)
                FROM unnest($1::uuid[], $2::uuid[], $3::integer[], $4::text[], $5::jsonb[], $6::int8[])
                    WITH ORDINALITY AS batch(event_id, user_id, user_version, type, payload, occurred, n),
                    (SELECT pg_advisory_xact_lock_shared(\(PostgresSchema.appendLock))) AS append_lock
                ORDER BY n
                RETURNING position
            )
            SELECT (SELECT max(position) FROM inserted), pg_notify('\(PostgresListener.channel)', '')
            """, eventArrays(events))
        return EventPosition(rawValue: result.int64(0, 0))
    }

    static func missedVersion(_ id: UserID, expected: Int, _ connection: PostgresConnection) -> any Error {
        do {
            return UserError.missedVersion(id, expected: expected, actual: try version(of: id, connection))
        } catch {
            return error
        }
    }

    static func version(of id: UserID, _ connection: PostgresConnection) throws -> Int? {
        let result = try connection.query("SELECT version FROM users WHERE id = $1::uuid", [id.description])
        return result.rowCount == 0 ? nil : Int(result.int64(0, 0))
    }

    /// Decodes a row of ``userColumns`` read in binary format.
    static func decodeUser(_ result: PostgresResult, row: Int) throws -> User {
        guard let uuid = result.uuid(row, 0), let status = UserStatus(rawValue: result.string(row, 4)) else {
            throw UserStoreError(.corrupt, "A stored user row can't be decoded.")
        }
        // The canonical form usually is the address itself: one String for both then.
        let email = result.string(row, 1)
        return User(
            id: UserID(uuid),
            email: EmailAddress(
                trustedValue: email, canonical: result.sameBytes(row, 1, 2) ? email : result.string(row, 2)),
            displayName: DisplayName(trustedValue: result.string(row, 3)),
            status: status,
            version: Int(result.binaryInteger(row, 5)),
            createdAt: Date(epochMilliseconds: result.timestampMilliseconds(row, 6)),
            updatedAt: Date(epochMilliseconds: result.timestampMilliseconds(row, 7)))
    }
}
