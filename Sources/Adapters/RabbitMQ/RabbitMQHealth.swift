import Foundation
import Logging
import Metrics
import UserPorts

/// The connection status of a publisher or consumer, its gauge, and the log lines of its changes (one per
/// change, not one per failed attempt).
final class RabbitMQHealth: Sendable {
    private let current = Locked(RabbitMQConnectionStatus(phase: .stopped))
    private let consecutiveFailures = Locked(0)
    private let everConnected = Locked(false)
    private let gauge: Gauge
    private let logger: Logger
    private let role: String
    private let url: RabbitMQURL

    init(role: String, url: RabbitMQURL, logger: Logger) {
        self.role = role
        self.url = url
        self.logger = logger
        gauge = Gauge(label: "users_rabbitmq_\(role)_state")
        gauge.record(0)
    }

    var status: RabbitMQConnectionStatus { current.withLock { $0 } }

    private func move(to phase: RabbitMQConnectionStatus.Phase, error: RabbitMQError?) {
        let changed = current.withLock { status -> Bool in
            let changed = status.phase != phase || status.lastError?.code != error?.code
            if status.phase != phase { status.since = Date() }
            status.phase = phase
            status.lastError = error
            return changed
        }
        gauge.record(phase.gaugeValue)
        guard changed else { return }
        var metadata: Logger.Metadata = ["rabbitmq.url": "\(url.redacted)", "rabbitmq.state": "\(phase.rawValue)"]
        if let error { metadata["error"] = "\(error.message)" }
        switch phase {
        case .connected: logger.info("rabbitmq \(role) connected", metadata: metadata)
        case .stopped, .connecting: logger.debug("rabbitmq \(role) \(phase.rawValue)", metadata: metadata)
        case .reconnecting, .failing:
            // A refusal that retrying won't fix needs a person: an error, not a warning.
            if error?.isPermanent == true {
                logger.error("rabbitmq \(role) \(phase.rawValue)", metadata: metadata)
            } else {
                logger.warning("rabbitmq \(role) \(phase.rawValue)", metadata: metadata)
            }
        }
    }

    func starting() {
        consecutiveFailures.withLock { $0 = 0 }
        move(to: .connecting, error: nil)
    }

    func stopped() { move(to: .stopped, error: nil) }

    func connected() {
        consecutiveFailures.withLock { $0 = 0 }
        everConnected.withLock { $0 = true }
        move(to: .connected, error: nil)
    }

    /// Records a failure: `failing` after three in a row or a refusal that retrying won't fix by itself,
    /// `reconnecting` after a connection that worked, `connecting` before the first.
    func failed(_ error: RabbitMQError) {
        let failures = consecutiveFailures.withLock { count -> Int in
            count += 1
            return count
        }
        let refused = error.isPermanent
        let phase: RabbitMQConnectionStatus.Phase =
            refused || failures >= 3 ? .failing : everConnected.withLock { $0 } ? .reconnecting : .connecting
        move(to: phase, error: error)
    }
}
