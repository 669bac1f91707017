public import UserPorts
#if RabbitMQ
import UserRabbitMQ
#endif

/// Where a ``UserSystem``'s outbox relay sends the events that commit with each change.
///
/// The value of `users.publisher` parses into one (``init(_:)``); an app passes one to
/// ``UserSystem/init(store:events:options:logger:)`` or ``UserSystem/open(store:events:options:storeOptions:logger:)``.
public enum EventDestination: Sendable, CustomStringConvertible {
    /// An in-process bus (``UserSystem/bus``) that the app subscribes to.
    case memory
    /// JSON lines, one event a line, on stdout (`path == nil`) or appended to a file.
    case log(path: String?)
    /// Nowhere: the events stay in the outbox and no relay runs (another process relays them).
    case none
    /// A RabbitMQ broker, `amqp://user:pass@host:5672/vhost` or `amqps://…`, and the topic exchange to publish
    /// to: a `RabbitMQPublisher` (UserRabbitMQ) runs among ``UserSystem/services``. Needs the package trait
    /// `RabbitMQ` (a default one).
    case amqp(url: String, exchange: String = "users.events")
    /// A publisher of the app's own (another broker's adapter, a fake in a test). When it is a `Service`, it
    /// runs among ``UserSystem/services``, before the relay, so that it stops after it.
    case publisher(any MessagePublisher)

    /// The destination as it may be printed: a broker URL's password replaced by `***`.
    public var description: String {
        switch self {
        case .memory: "memory"
        case .log(let path): path.map { "log:\($0)" } ?? "log"
        case .none: "none"
        case .amqp(let url, _): URLRedaction.redact(url, visibleParameters: [])
        case .publisher(let publisher): "\(type(of: publisher))"
        }
    }

    /// Parses `memory`, `log`, `log:PATH`, `none` or `amqp://…` / `amqps://…` (the value of `users.publisher`).
    ///
    /// - Throws: ``ConfigurationError`` for `users.publisher`: a value of no known kind, a malformed broker
    ///   URL (the message shows it redacted), or a broker URL in a build without the `RabbitMQ` trait.
    public init(_ text: String) throws {
        switch text {
        case "memory": self = .memory
        case "log": self = .log(path: nil)
        case "none": self = .none
        case _ where text.hasPrefix("log:"): self = .log(path: String(text.dropFirst(4)))
        case _ where text.hasPrefix("amqp://") || text.hasPrefix("amqps://"):
            #if RabbitMQ
            _ = try Self.brokerConfiguration(url: text, exchange: "users.events")
            self = .amqp(url: text)
            #else
            throw Self.brokerLeftOut
            #endif
        default:
            // The value is not repeated: a broker URL may hold a password.
            throw ConfigurationError(
                key: "users.publisher",
                "The publisher (users.publisher) must be memory, log, log:PATH, none or amqp://….")
        }
    }

    #if RabbitMQ
    /// The broker publisher's configuration, or a ``ConfigurationError`` for `users.publisher` that shows the URL
    /// redacted.
    static func brokerConfiguration(url: String, exchange: String) throws -> RabbitMQPublisher.Configuration {
        do {
            return try .init(url: url, exchange: exchange)
        } catch {
            throw ConfigurationError(key: "users.publisher", "The broker URL (users.publisher): \(error)")
        }
    }
    #endif

    /// The error for a broker destination in a build without the `RabbitMQ` trait.
    static var brokerLeftOut: ConfigurationError {
        ConfigurationError(
            key: "users.publisher",
            "A broker publisher (users.publisher = amqp://…) needs swift-user-domain's package trait RabbitMQ, "
                + "which this build leaves out.")
    }
}
