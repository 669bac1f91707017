/// What a command requires of the user's version before it applies.
package enum VersionPrecondition: Sendable, Hashable {
    /// Nothing: the command applies to the current version, retrying when a concurrent change wins.
    case none
    /// The user must be at one of these versions (an HTTP `If-Match` list; empty when it named only weak
    /// tags, which never match). A version the store reports as moved on is read again and checked again.
    case oneOf([Int])

    /// `.oneOf([version])`, or `.none` without a version.
    init(_ expectedVersion: Int?) {
        self = expectedVersion.map { .oneOf([$0]) } ?? .none
    }
}
