import CSQLite
import Foundation
import Logging
import UserDomain
import UserPorts

/// The statements the ports share: the user row and the event rows.
extension SQLiteUserStore {
    static func insert(_ user: User, _ connection: SQLiteConnection) throws {
        do {
            try connection.withStatement(
                """
                INSERT INTO users (id, email, email_canonical, display_name, status, version, created_at, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                """
            ) { statement in
                try bindUser(user, statement)
                _ = try statement.step()
            }
        } catch let error as SQLiteError where error.isUniqueViolation {
            // The id or the e-mail exists.
            throw UserError.insertRefused(user, storedVersion: try version(of: user.id, connection))
        }
    }

    static func update(_ user: User, expectedVersion: Int, _ connection: SQLiteConnection) throws {
        // Most changes keep the e-mail address. SQLite rewrites the e-mail index entry of every row an UPDATE
        // sets the indexed column on, even to the same value (one more page written per commit, measured:
        // 2 WAL frames instead of 1), so the e-mail columns are left out of the SET list when they match;
        // when they don't (or the version missed), the full statement below decides.
        try connection.withStatement(
            """
            UPDATE users SET display_name = ?4, status = ?5, version = ?6, created_at = ?7, updated_at = ?8
            WHERE id = ?1 AND version = ?9 AND email = ?2 AND email_canonical = ?3
            """
        ) { statement in
            try bindUser(user, statement)
            try statement.bind(9, expectedVersion)
            _ = try statement.step()
        }
        if connection.changes > 0 { return }
        do {
            try connection.withStatement(
                """
                UPDATE users SET email = ?2, email_canonical = ?3, display_name = ?4, status = ?5, version = ?6,
                    created_at = ?7, updated_at = ?8
                WHERE id = ?1 AND version = ?9
                """
            ) { statement in
                try bindUser(user, statement)
                try statement.bind(9, expectedVersion)
                _ = try statement.step()
            }
        } catch let error as SQLiteError where error.isUniqueViolation {
            throw UserError.emailTaken(user.email)
        }
        if connection.changes == 0 {
            throw missedVersion(user.id, expected: expectedVersion, connection)
        }
    }

    static func bindUser(_ user: User, _ statement: SQLiteStatement) throws {
        try statement.bind(1, user.id.uuid)
        try statement.bind(2, user.email.value)
        try statement.bind(3, user.email.canonical)
        try statement.bind(4, user.displayName.value)
        try statement.bind(5, user.status.rawValue)
        try statement.bind(6, user.version)
        try statement.bind(7, user.createdAt.epochMilliseconds)
        try statement.bind(8, user.updatedAt.epochMilliseconds)
    }

    /// The error for a write whose `WHERE version = ?` matched nothing.
    static func missedVersion(_ id: UserID, expected: Int, _ connection: SQLiteConnection) -> any Error {
        do {
            return UserError.missedVersion(id, expected: expected, actual: try version(of: id, connection))
        } catch {
            return error
        }
    }

    static func version(of id: UserID, _ connection: SQLiteConnection) throws -> Int? {
        try connection.withStatement("SELECT version FROM users WHERE id = ?1") { statement in
            try statement.bind(1, id.uuid)
            return try statement.step() ? Int(statement.int64(0)) : nil
        }
    }

    static let insertEvent = """
        INSERT INTO user_events (event_id, user_id, user_version, type, payload, occurred_at)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6)
        """

    static func append(_ events: [UserEventEnvelope], _ connection: SQLiteConnection) throws -> EventPosition? {
        guard !events.isEmpty else { return nil }
        try append(events, with: connection.statement(insertEvent))
        return EventPosition(rawValue: connection.lastInsertRowID)
    }

    /// Appends events with the cached ``insertEvent`` statement (a bulk insert looks it up once per batch).
    static func append(_ events: [UserEventEnvelope], with statement: SQLiteStatement) throws {
        defer { statement.reset() }
        for event in events {
            try bindEvent(event, statement)
            _ = try statement.step()
            statement.reset()
        }
    }

    /// Binds an event's columns to parameters 1–6: id, user, version, type, payload, time.
    static func bindEvent(_ event: UserEventEnvelope, _ statement: SQLiteStatement) throws {
        try statement.bind(1, event.eventID)
        try statement.bind(2, event.userID.uuid)
        try statement.bind(3, event.userVersion)
        try statement.bind(4, event.type)
        try statement.bindText(5, event.jsonUTF8())
        try statement.bind(6, event.occurredAt.epochMilliseconds)
    }

    static func decodeUser(_ statement: SQLiteStatement) throws -> User {
        guard let uuid = statement.uuid(0), let status = UserStatus(rawValue: statement.text(4)) else {
            throw UserStoreError(.corrupt, "A stored user row can't be decoded.")
        }
        // The canonical form usually is the address itself: one String for both then.
        let email = statement.text(1)
        return User(
            id: UserID(uuid),
            email: EmailAddress(trustedValue: email, canonical: statement.sameBytes(1, 2) ? email : statement.text(2)),
            displayName: DisplayName(trustedValue: statement.text(3)),
            status: status,
            version: Int(statement.int64(5)),
            createdAt: Date(epochMilliseconds: statement.int64(6)),
            updatedAt: Date(epochMilliseconds: statement.int64(7)))
    }
}
