public import Foundation
public import UserDomain

/// One user as the directory read model shows it.
public struct DirectoryEntry: Sendable, Hashable, Identifiable {
    /// The user's id.
    public var id: UserID
    /// The e-mail address as spelled.
    public var email: String
    /// The display name.
    public var displayName: String
    /// Active or deactivated.
    public var status: UserStatus
    /// The user's version after the last event applied.
    public var version: Int
    /// When the user registered.
    public var createdAt: Date
    /// When the last change happened.
    public var updatedAt: Date

    /// Creates an entry.
    public init(
        id: UserID, email: String, displayName: String, status: UserStatus, version: Int, createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.email = email
        self.displayName = displayName
        self.status = status
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The entry that shows a user of the write model.
    public init(_ user: User) {
        self.init(
            id: user.id, email: user.email.value, displayName: user.displayName.value, status: user.status,
            version: user.version, createdAt: user.createdAt, updatedAt: user.updatedAt)
    }

    /// The entry after `event`, or `nil` when the event deletes the user; `nil` in, registration out.
    ///
    /// The rules are ``DirectoryChange``'s, which the SQL stores write as rows; the in-memory store uses this.
    public static func applying(_ event: UserEventEnvelope, to entry: DirectoryEntry?) -> DirectoryEntry? {
        switch DirectoryChange(event) {
        case .upsert(let registered, _, _): registered
        case .update(_, let fields): entry.map(fields.applied(to:))
        case .remove: nil
        }
    }
}

/// Counts of the directory by status.
public struct DirectoryStatistics: Sendable, Hashable {
    /// Active users.
    public var active: Int
    /// Deactivated users.
    public var deactivated: Int
    /// Every user.
    public var total: Int { active + deactivated }

    /// Creates statistics.
    public init(active: Int, deactivated: Int) {
        self.active = active
        self.deactivated = deactivated
    }
}

/// The user directory: the CQRS read model, kept by a projection of the event log (``DirectoryProjection``)
/// and read by the directory queries (``DirectoryQueries``). The write model (``UserRepository``) stays the
/// source of truth; the directory follows it, eventually, and a reader that passes a consistency token waits
/// until it has caught up.
///
/// A store keeps the directory next to its users, so the projection's rows and its checkpoint commit in one
/// transaction: an event is applied exactly once, whatever crashes.
public protocol UserDirectory: Sendable {
    /// Entries whose e-mail address (ignoring case) or display name (ignoring case) starts with `prefix`,
    /// ordered by display name (ignoring case) then id, at most `limit`. An empty prefix matches everyone.
    func searchDirectory(prefix: String, limit: Int) async throws -> [DirectoryEntry]

    /// Counts by status.
    func directoryStatistics() async throws -> DirectoryStatistics

    /// The position of the last event applied to the directory, or `nil` when none was.
    func directoryPosition() async throws -> EventPosition?

    /// Applies events, in position order, to the directory and moves its checkpoint to the last, in one
    /// transaction. Events at or below the checkpoint are skipped, so a batch delivered twice is applied
    /// once.
    func applyToDirectory(_ events: [OutboxEvent]) async throws

    /// Empties the directory and its checkpoint, for a rebuild from the event log.
    ///
    /// - Throws: `UserStoreError` code `historyTrimmed` when retention trimmed the event log, so that a
    ///   rebuild could not see every event; nothing is emptied then.
    func resetDirectory() async throws
}

extension DirectoryEntry {
    /// A search prefix as every directory compares it: spaces and tabs around it trimmed, in Unicode NFC (the
    /// form names and addresses are stored in). The user service's and the directory service's searches both
    /// use it, so one query finds the same users on both.
    public static func searchPrefix(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespaces).precomposedStringWithCanonicalMapping
    }
}
