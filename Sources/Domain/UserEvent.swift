/// Something that happened to a user. Every real change to a ``User`` causes exactly one event.
///
/// Events travel inside a ``UserEventEnvelope``, which gives them an id, the user, the user's version
/// after the event and the time; see there for the JSON form other services consume.
public enum UserEvent: Sendable, Hashable {
    /// The user registered, active, at version 1.
    case registered(email: EmailAddress, displayName: DisplayName)
    /// The display name changed from `previous` to `displayName`.
    case renamed(displayName: DisplayName, previous: DisplayName)
    /// The e-mail address changed from `previous` to `email` (possibly in letter case only).
    case emailChanged(email: EmailAddress, previous: EmailAddress)
    /// The user was switched off.
    case deactivated
    /// The user was switched back on.
    case reactivated
    /// The user was removed; its e-mail address is free again.
    case deleted

    /// The event's type name in JSON and in stores: `user.registered`, `user.renamed`,
    /// `user.emailChanged`, `user.deactivated`, `user.reactivated` or `user.deleted`.
    public var typeName: String {
        switch self {
        case .registered: "user.registered"
        case .renamed: "user.renamed"
        case .emailChanged: "user.emailChanged"
        case .deactivated: "user.deactivated"
        case .reactivated: "user.reactivated"
        case .deleted: "user.deleted"
        }
    }

    /// Every type name, in the order of the cases.
    public static let typeNames = [
        "user.registered", "user.renamed", "user.emailChanged", "user.deactivated", "user.reactivated",
        "user.deleted",
    ]
}
