public import Foundation

/// The state of a publisher's or consumer's broker connection: what `/health/ready` and the metrics show.
public struct RabbitMQConnectionStatus: Sendable, CustomStringConvertible {
    /// Where the connection stands.
    public enum Phase: String, Sendable, Hashable {
        /// `run()` has not started or has returned.
        case stopped
        /// Connecting for the first time.
        case connecting
        /// Connected; publishing (consuming) works.
        case connected
        /// The connection was lost; reconnecting with backoff.
        case reconnecting
        /// Connecting failed several times in a row, or was refused (wrong credentials, unknown vhost); still
        /// retrying with backoff.
        case failing

        /// The value of the `users_rabbitmq_*_state` gauges: 0 stopped, 1 connected, 2 connecting or
        /// reconnecting, 3 failing.
        public var gaugeValue: Int {
            switch self {
            case .stopped: 0
            case .connected: 1
            case .connecting, .reconnecting: 2
            case .failing: 3
            }
        }
    }

    /// Where the connection stands.
    public var phase: Phase
    /// The last failure, kept until the next successful connect; its description is safe to show.
    public var lastError: RabbitMQError?
    /// When ``phase`` last changed.
    public var since: Date

    /// Creates a status.
    public init(phase: Phase, lastError: RabbitMQError? = nil, since: Date = Date()) {
        self.phase = phase
        self.lastError = lastError
        self.since = since
    }

    /// Whether the connection works now.
    public var isReady: Bool { phase == .connected }

    /// E.g. `connected`, or `failing: RabbitMQ at amqp://app:***@… refused the login …`.
    public var description: String {
        phase.rawValue + (lastError.map { ": \($0.message)" } ?? "")
    }
}
