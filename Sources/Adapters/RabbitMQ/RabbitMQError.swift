/// A failure to reach, log in to, or publish through RabbitMQ.
///
/// ``description`` is safe to log and show: it names the broker by its redacted URL (``RabbitMQURL/redacted``)
/// and quotes the broker's reply text, never a password. ``code`` says what went wrong; new codes may be added.
public struct RabbitMQError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong; a struct so that codes can be added without breaking a `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The URL is malformed.
        public static let invalidURL = Code("invalidURL")
        /// The broker refused the login (ACCESS_REFUSED): wrong user name or password, or no access to the vhost.
        public static let accessRefused = Code("accessRefused")
        /// The virtual host does not exist (NOT_ALLOWED at connection.open).
        public static let unknownVirtualHost = Code("unknownVirtualHost")
        /// No connection could be made: refused, no route, name not resolved, TLS handshake failed.
        public static let unreachable = Code("unreachable")
        /// The broker's TLS certificate was not trusted: signed by an unknown CA (no `cacertfile`, or another
        /// one), or made for another host name.
        public static let certificateRefused = Code("certificateRefused")
        /// The broker did not answer in time (connect, login, a confirm).
        public static let timeout = Code("timeout")
        /// The connection was lost or closed by the broker (restart, heartbeat missed, forced close).
        public static let connectionLost = Code("connectionLost")
        /// The broker rejected an operation (a channel error such as PRECONDITION_FAILED or NOT_FOUND), or
        /// sent something unexpected.
        public static let protocolError = Code("protocolError")
        /// The broker refused to take a message (basic.nack).
        public static let nacked = Code("nacked")
        /// The broker returned a message as unroutable (no queue, not even the alternate exchange's).
        public static let unroutable = Code("unroutable")
        /// The publisher or consumer is not running (its `run()` has not started or has returned).
        public static let notRunning = Code("notRunning")

        /// The code's name, e.g. `accessRefused`.
        public var description: String { name }
    }

    /// What went wrong.
    public let code: Code
    /// A safe, human-readable message.
    public let message: String
    /// The AMQP reply code the broker sent (403, 404, 406, 530, 320…), when it sent one.
    public let replyCode: Int?

    /// Creates an error; `message` must hold no secret.
    public init(_ code: Code, _ message: String, replyCode: Int? = nil) {
        self.code = code
        self.message = message
        self.replyCode = replyCode
    }

    /// Whether retrying can't help until a configuration changes (ours or the broker's): a refused login, an
    /// unknown virtual host, a malformed URL or CA file, a broker certificate that is not trusted.
    public var isPermanent: Bool {
        [.accessRefused, .unknownVirtualHost, .invalidURL, .certificateRefused].contains(code)
    }

    /// The safe message.
    public var description: String { message }

    /// The message with the code and the reply code.
    public var debugDescription: String {
        "RabbitMQError(\(code)\(replyCode.map { ", reply \($0)" } ?? "")): \(message)"
    }

    /// `error` itself when it is a ``RabbitMQError``, otherwise a `protocolError` naming its type only.
    static func from(_ error: any Error) -> RabbitMQError {
        if let error = error as? RabbitMQError { return error }
        return RabbitMQError(.protocolError, "Unexpected error \(type(of: error)) talking to RabbitMQ.")
    }
}
