public import Foundation
public import UserDomain

/// One user as the directory read model (a ``DirectoryReplica``) shows it.
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
    /// The rules are ``DirectoryChange``'s, as the replicas apply them to their rows; the replica contract checks
    /// them against this.
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

extension DirectoryEntry {
    /// A search prefix as every directory compares it: spaces and tabs around it trimmed, in Unicode NFC (the
    /// form names and addresses are stored in). ``DirectoryQueries`` applies it before every search.
    public static func searchPrefix(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespaces).precomposedStringWithCanonicalMapping
    }
}
