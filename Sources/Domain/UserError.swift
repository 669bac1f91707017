/// The errors of the user domain: broken rules and refused input.
///
/// Every adapter reports the same case for the same situation (an e-mail taken is ``emailTaken(_:)``
/// whether SQLite, PostgreSQL or the in-memory store found it). Infrastructure failures (a database that is
/// down, a corrupt file) are not domain errors; the ports report them as `UserStoreError`.
///
/// ``description`` is safe to show to a caller: it never contains SQL, secrets or the values of other users.
public enum UserError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An e-mail address was refused, for the reason given.
    case invalidEmail(EmailAddress.Problem)
    /// A display name was refused, for the reason given.
    case invalidDisplayName(DisplayName.Problem)
    /// No user has this id.
    case notFound(UserID)
    /// Another user already has this e-mail address (compared by ``EmailAddress/canonical``: letter case,
    /// IDNA and Unicode compatibility spellings of one mailbox are one address).
    case emailTaken(EmailAddress)
    /// The user changed since the caller read it: the caller expected `expected`, the store holds `actual`
    /// (`nil` when the store could not tell). Nothing was written.
    case versionConflict(UserID, expected: Int, actual: Int?)
    /// The operation is not allowed in the user's current status (a deactivated user can't be renamed).
    case illegalTransition(UserID, operation: UserOperation, status: UserStatus)
    /// A page size outside `1...UserPage.maximumLimit`.
    case invalidPageSize(Int)
    /// A page cursor that this package did not produce or that was altered.
    case invalidCursor

    /// A stable machine-readable name for the case, e.g. `email-taken`; the HTTP adapter builds its
    /// problem `type` URIs from it.
    public var code: String {
        switch self {
        case .invalidEmail: "invalid-email"
        case .invalidDisplayName: "invalid-display-name"
        case .notFound: "not-found"
        case .emailTaken: "email-taken"
        case .versionConflict: "version-conflict"
        case .illegalTransition: "illegal-transition"
        case .invalidPageSize: "invalid-page-size"
        case .invalidCursor: "invalid-cursor"
        }
    }

    /// A sentence a person can read.
    public var description: String {
        switch self {
        case .invalidEmail(let problem): problem.description
        case .invalidDisplayName(let problem): problem.description
        case .notFound(let id): "No user has the id \(id)."
        case .emailTaken: "The e-mail address is already registered to another user."
        case .versionConflict(let id, let expected, let actual):
            if let actual {
                "User \(id) is at version \(actual), not at the expected version \(expected)."
            } else {
                "User \(id) is not at the expected version \(expected)."
            }
        case .illegalTransition(let id, let operation, let status):
            "User \(id) is \(status) and can't \(operation.verbPhrase)."
        case .invalidPageSize(let size): "The page size \(size) is outside 1...\(UserPage.maximumLimit)."
        case .invalidCursor: "The page cursor is not valid."
        }
    }
}

/// The operations on a user, as named in ``UserError/illegalTransition(_:operation:status:)``.
public enum UserOperation: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Changing the display name.
    case rename
    /// Changing the e-mail address.
    case changeEmail
    /// Switching the user off.
    case deactivate
    /// Switching the user back on.
    case reactivate
    /// Removing the user.
    case delete

    /// The raw value.
    public var description: String { rawValue }

    var verbPhrase: String {
        switch self {
        case .rename: "be renamed"
        case .changeEmail: "change e-mail address"
        case .deactivate: "be deactivated"
        case .reactivate: "be reactivated"
        case .delete: "be deleted"
        }
    }
}

extension UserError {
    /// The error of a write that named version `expected` of a user whose stored version is `actual` (`nil`:
    /// there is no such user): ``notFound(_:)`` or ``versionConflict(_:expected:actual:)``. The stores decide
    /// what a write that matched no row means here, in one place.
    public static func missedVersion(_ id: UserID, expected: Int, actual: Int?) -> UserError {
        guard let actual else { return .notFound(id) }
        return .versionConflict(id, expected: expected, actual: actual)
    }

    /// The error of a new user that the store refused as a duplicate: a version conflict when its id is taken
    /// (`storedVersion` is the stored user's version), whatever its e-mail; otherwise its e-mail is taken.
    public static func insertRefused(_ user: User, storedVersion: Int?) -> UserError {
        guard let storedVersion else { return .emailTaken(user.email) }
        return .versionConflict(user.id, expected: 0, actual: storedVersion)
    }
}
