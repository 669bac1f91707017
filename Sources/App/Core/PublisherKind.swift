import UserPorts

/// Where the relay publishes events.
public enum PublisherKind: Sendable, Hashable, CustomStringConvertible {
    /// An in-process bus that embedders subscribe to.
    case memory
    /// JSON lines, one event a line, on stdout (`path == nil`) or appended to a file.
    case log(path: String?)
    /// Events stay in the outbox (no relay runs).
    case none
    /// A RabbitMQ broker, `amqp://user:pass@host:5672/vhost` or `amqps://…`: opened by `UserApp` (which links
    /// rabbitmq-c through `UserRabbitMQ`); over `UserAppCore` alone, pass a `RabbitMQPublisher` to
    /// ``UserSystem/init(store:publisher:options:logger:close:)-(_,MessagePublisher,_,_,_)``.
    case amqp(url: String)

    /// The publisher as it may be printed: a broker URL's password replaced by `***`.
    public var description: String {
        switch self {
        case .memory: "memory"
        case .log(let path): path.map { "log:\($0)" } ?? "log"
        case .none: "none"
        case .amqp(let url): URLRedaction.redact(url, visibleParameters: [])
        }
    }

    /// Parses `memory`, `log`, `log:PATH`, `none` or `amqp://…` / `amqps://…` (the value of `users.publisher`).
    ///
    /// - Throws: ``ConfigurationError`` for `users.publisher`.
    public init(_ text: String) throws {
        switch text {
        case "memory": self = .memory
        case "log": self = .log(path: nil)
        case "none": self = .none
        case _ where text.hasPrefix("log:"): self = .log(path: String(text.dropFirst(4)))
        case _ where text.hasPrefix("amqp://") || text.hasPrefix("amqps://"): self = .amqp(url: text)
        default:
            // The value is not repeated: a broker URL may hold a password.
            throw ConfigurationError(
                key: "users.publisher",
                "The publisher (users.publisher) must be memory, log, log:PATH, none or amqp://….")
        }
    }
}
