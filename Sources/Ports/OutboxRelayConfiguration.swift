import Foundation

/// How the relay batches, polls, backs off, gives up and shares the work.
public struct OutboxRelayConfiguration: Sendable {
    /// Events read and published per batch.
    public var batchSize: Int
    /// The longest the relay sleeps when no commit signal arrives.
    public var pollInterval: Duration
    /// The first delay after a failure.
    public var initialBackoff: Duration
    /// The longest delay between retries.
    public var maximumBackoff: Duration
    /// Failed attempts after which an event is parked as dead.
    public var maximumAttempts: Int
    /// How long a relay lease lasts; renewed before every batch.
    public var leaseDuration: Duration
    /// This relay's name in the lease, unique per relay instance: by default host, process id and a UUID.
    public var owner: String

    /// Creates a configuration; the defaults suit most services.
    public init(
        batchSize: Int = 100,
        pollInterval: Duration = .seconds(1),
        initialBackoff: Duration = .milliseconds(50),
        maximumBackoff: Duration = .seconds(30),
        maximumAttempts: Int = 10,
        leaseDuration: Duration = .seconds(15),
        owner: String? = nil
    ) {
        self.batchSize = max(1, batchSize)
        self.pollInterval = pollInterval
        self.initialBackoff = initialBackoff
        self.maximumBackoff = max(initialBackoff, maximumBackoff)
        self.maximumAttempts = max(1, maximumAttempts)
        self.leaseDuration = max(.milliseconds(30), leaseDuration)
        self.owner =
            owner
            ?? "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(UUID())"
    }
}
