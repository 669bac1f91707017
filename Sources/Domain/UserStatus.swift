/// Whether a user may act and be changed.
///
/// The raw values (`active`, `deactivated`) are what stores, events and the HTTP API use.
public enum UserStatus: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// The user can sign in and be changed.
    case active
    /// The user is switched off: it keeps its data and e-mail address, but can't be renamed or change
    /// e-mail until it is reactivated.
    case deactivated

    /// The raw value.
    public var description: String { rawValue }
}
