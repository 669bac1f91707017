/// A configuration this app can't use: a value of the wrong kind or out of range, a store URL or publisher it
/// does not know, an API token source without a valid token, an event log it can't open, a bind address it
/// refuses.
///
/// It is about what the operator wrote, not about the infrastructure behind a port: a store that can't be
/// reached, or that refuses the credentials of a well-formed URL, is a `UserStoreError` from the store.
///
/// ``description`` is safe to print: it names ``key`` and, where useful, the offending value or path, but
/// never a bearer token, a password or a store URL (which may hold one).
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The configuration key the error concerns, e.g. `users.port` (its environment variable is the key in
    /// upper case with `.` and camel-case humps as `_`: `USERS_PORT`).
    public let key: String
    /// A sentence for the operator that names the key: no token, password or store URL.
    public let message: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - key: the configuration key the error concerns.
    ///   - message: a sentence safe to print that names the key; never a secret.
    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
