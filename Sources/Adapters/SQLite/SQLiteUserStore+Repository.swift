import CSQLite
import Foundation
import Logging
public import UserDomain
public import UserPorts

/// ``UserRepository``: the users, written with their events in one transaction.
extension SQLiteUserStore {
    static let userColumns =
        "id, email, email_canonical, display_name, status, version, created_at, updated_at"
    // Built once: the statement cache is keyed by the text, and interpolating it per call showed in the
    // lookup profile.
    static let selectByID = "SELECT \(userColumns) FROM users WHERE id = ?1"
    static let selectByEmail = "SELECT \(userColumns) FROM users WHERE email_canonical = ?1"
    static let selectFirstPage = "SELECT \(userColumns) FROM users ORDER BY id LIMIT ?1"
    static let selectPageAfter = "SELECT \(userColumns) FROM users WHERE id > ?2 ORDER BY id LIMIT ?1"

    /// The user with this id, or `nil`.
    public func user(id: UserID) async throws -> User? {
        try await shortRead { connection in
            try connection.withStatement(Self.selectByID) { statement in
                try statement.bind(1, id.uuid)
                return try statement.step() ? try Self.decodeUser(statement) : nil
            }
        }
    }

    /// The user whose e-mail address has the same canonical form, or `nil`.
    public func user(email: EmailAddress) async throws -> User? {
        try await shortRead { connection in
            try connection.withStatement(Self.selectByEmail) {
                statement in
                try statement.bind(1, email.canonical)
                return try statement.step() ? try Self.decodeUser(statement) : nil
            }
        }
    }

    /// A page of users in id order after the cursor.
    public func page(after cursor: PageCursor?, limit: Int) async throws -> UserPage {
        try UserPage.validate(limit: limit)
        let users = try await shortRead { connection in
            try connection.withStatement(cursor == nil ? Self.selectFirstPage : Self.selectPageAfter) { statement in
                try statement.bind(1, limit + 1)
                if let cursor { try statement.bind(2, cursor.lastID.uuid) }
                var users: [User] = []
                users.reserveCapacity(min(limit + 1, 128))
                while try statement.step() { users.append(try Self.decodeUser(statement)) }
                return users
            }
        }
        return UserPage(lookingAhead: users, limit: limit)
    }

    /// Inserts or updates a user and appends its events, in one transaction.
    @discardableResult
    public func save(_ user: User, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        let position = try await write { connection in
            try connection.writeTransaction {
                if expectedVersion == 0 {
                    try Self.insert(user, connection)
                } else {
                    try Self.update(user, expectedVersion: expectedVersion, connection)
                }
                return try Self.append(events, connection)
            }
        }
        if position != nil { commitSignal.signal() }
        return position
    }

    /// Inserts new users with their events in one transaction; users whose id or e-mail is taken are
    /// skipped and reported.
    public func insert(_ batch: [UserChange]) async throws -> BatchInsertOutcome {
        guard !batch.isEmpty else { return BatchInsertOutcome() }
        let outcome = try await write { connection in
            try connection.writeTransaction {
                var outcome = BatchInsertOutcome()
                // Both statements looked up once per batch, not once per row.
                let insertUser = try connection.statement(
                    """
                    INSERT INTO users (id, email, email_canonical, display_name, status, version, created_at,
                        updated_at)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING
                    """)
                let insertEvent = try connection.statement(Self.insertEvent)
                for (index, change) in batch.enumerated() {
                    do {
                        defer { insertUser.reset() }
                        try Self.bindUser(change.user, insertUser)
                        _ = try insertUser.step()
                    }
                    guard connection.changes > 0 else {
                        outcome.rejected[index] = .insertRefused(
                            change.user, storedVersion: try Self.version(of: change.user.id, connection))
                        continue
                    }
                    outcome.insertedCount += 1
                    if !change.events.isEmpty {
                        try Self.append(change.events, with: insertEvent)
                        outcome.lastPosition = EventPosition(rawValue: connection.lastInsertRowID)
                    }
                }
                return outcome
            }
        }
        if outcome.lastPosition != nil { commitSignal.signal() }
        return outcome
    }

    /// Removes a user and appends its events, in one transaction.
    @discardableResult
    public func delete(id: UserID, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        let position = try await write { connection in
            try connection.writeTransaction {
                try connection.withStatement("DELETE FROM users WHERE id = ?1 AND version = ?2") { statement in
                    try statement.bind(1, id.uuid)
                    try statement.bind(2, expectedVersion)
                    _ = try statement.step()
                }
                if connection.changes == 0 {
                    throw Self.missedVersion(id, expected: expectedVersion, connection)
                }
                return try Self.append(events, connection)
            }
        }
        if position != nil { commitSignal.signal() }
        return position
    }
}
