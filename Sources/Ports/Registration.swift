/// One user to register with ``UserUseCases/register(_:)``: the input of a bulk import, not yet checked.
public struct Registration: Sendable, Hashable {
    /// The e-mail address, as given.
    public var email: String
    /// The display name, as given.
    public var displayName: String

    /// Creates a registration.
    public init(email: String, displayName: String) {
        self.email = email
        self.displayName = displayName
    }
}
