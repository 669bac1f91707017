public import Foundation
public import UserDomain

/// What one event does to the directory read model, as a row change: the directory's rules in one place, for
/// every replica (the replicas' batch rule and ``DirectoryEntry/applying(_:to:)`` both follow it).
public enum DirectoryChange: Sendable {
    /// A registration: insert the entry, or replace the row that has its id.
    case upsert(DirectoryEntry, emailCanonical: String, displayNameFolded: String)
    /// A change of an existing user: set the fields that are not `nil`, and the version and update time, on
    /// the row with the id (no row: nothing happens).
    case update(UserID, Fields)
    /// A deletion: remove the row with the id.
    case remove(UserID)

    /// The fields an update sets.
    public struct Fields: Sendable {
        /// The new address as spelled, and its canonical form (the directory's search key).
        public var email: (value: String, canonical: String)?
        /// The new display name, and its lower-cased form (the directory's search key).
        public var displayName: (value: String, folded: String)?
        /// The new status.
        public var status: UserStatus?
        /// The user's version after the event.
        public var version: Int
        /// When the event happened.
        public var updatedAt: Date
    }

    /// The change `event` makes.
    public init(_ event: UserEventEnvelope) {
        var fields = Fields(
            email: nil, displayName: nil, status: nil, version: event.userVersion, updatedAt: event.occurredAt)
        switch event.event {
        case .registered(let email, let displayName):
            let entry = DirectoryEntry(
                id: event.userID, email: email.value, displayName: displayName.value, status: .active,
                version: event.userVersion, createdAt: event.occurredAt, updatedAt: event.occurredAt)
            self = .upsert(
                entry, emailCanonical: email.canonical, displayNameFolded: Self.folded(displayName.value))
            return
        case .renamed(let displayName, _): fields.displayName = (displayName.value, Self.folded(displayName.value))
        case .emailChanged(let email, _): fields.email = (email.value, email.canonical)
        case .deactivated: fields.status = .deactivated
        case .reactivated: fields.status = .active
        case .deleted:
            self = .remove(event.userID)
            return
        }
        self = .update(event.userID, fields)
    }

    /// A display name as the directory searches it.
    static func folded(_ displayName: String) -> String { displayName.lowercased() }
}

extension DirectoryChange.Fields {
    /// `entry` with these fields set.
    public func applied(to entry: DirectoryEntry) -> DirectoryEntry {
        var entry = entry
        if let email { entry.email = email.value }
        if let displayName { entry.displayName = displayName.value }
        if let status { entry.status = status }
        entry.version = version
        entry.updatedAt = updatedAt
        return entry
    }
}
