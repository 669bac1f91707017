/// Where the relay publishes events.
public enum PublisherKind: Sendable, Hashable {
    /// An in-process bus that embedders subscribe to.
    case memory
    /// JSON lines, one event a line, on stdout (`path == nil`) or appended to a file.
    case log(path: String?)
    /// Events stay in the outbox (no relay runs).
    case none

    /// Parses `memory`, `log`, `log:PATH` or `none` (the value of `users.publisher`).
    ///
    /// - Throws: ``ConfigurationError`` for `users.publisher`.
    public init(_ text: String) throws {
        switch text {
        case "memory": self = .memory
        case "log": self = .log(path: nil)
        case "none": self = .none
        case _ where text.hasPrefix("log:"): self = .log(path: String(text.dropFirst(4)))
        default:
            throw ConfigurationError(
                key: "users.publisher", "The publisher (users.publisher) must be memory, log, log:PATH or none.")
        }
    }
}
