import Logging
import NIOCore
import Synchronization
import UserPorts

/// One open connection, as the ``ConnectionRegistry`` sees it from any thread.
final class ConnectionActivity: Sendable {
    /// The connection.
    let channel: any Channel
    /// `0` while a request is being handled; otherwise the uptime in nanoseconds (at least 1) since when the
    /// connection has waited for a request, or, plus ``receivingBody``, since when it has received a request
    /// body (ranked after every waiting connection); ``evicted`` once the registry chose it for closing.
    let waitingSince: Atomic<UInt64>

    /// Added to the time a request body began: such connections are evicted only after the waiting ones.
    static let receivingBody: UInt64 = 1 << 62

    /// The value of ``waitingSince`` for a connection being closed to make room.
    static let evicted = UInt64.max

    init(channel: any Channel, waitingSince: NIODeadline) {
        self.channel = channel
        self.waitingSince = Atomic(max(1, waitingSince.uptimeNanoseconds))
    }
}

/// The open connections of one server, for the bound: admits a new connection, making room by closing the
/// one that has waited longest for a request.
final class ConnectionRegistry: Sendable {
    /// The bound.
    let maximum: Int
    private let logger: Logger
    private let connections = Locked<[ObjectIdentifier: ConnectionActivity]>([:])

    init(maximum: Int, logger: Logger) {
        self.maximum = maximum
        self.logger = logger
    }

    /// The number of connections open.
    var count: Int { connections.withLock { $0.count } }

    /// Registers a new connection; `false` when it must be closed because the bound is reached and every
    /// connection has a request in flight. A connection evicted to make room is closed.
    func admit(_ connection: ConnectionActivity) -> Bool {
        let (admitted, victim) = connections.withLock { connections -> (Bool, ConnectionActivity?) in
            var victim: ConnectionActivity?
            if connections.count >= maximum {
                // The scan is linear, but runs only at the bound, once per new connection.
                while victim == nil {
                    var oldest: (key: ObjectIdentifier, connection: ConnectionActivity, since: UInt64)?
                    for (key, candidate) in connections {
                        let since = candidate.waitingSince.load(ordering: .relaxed)
                        if since != 0, since != ConnectionActivity.evicted, since < oldest?.since ?? .max {
                            oldest = (key, candidate, since)
                        }
                    }
                    guard let oldest else { return (false, nil) }
                    // A request head may arrive meanwhile on the connection's event loop: take it only if it is
                    // still waiting, else look again.
                    if oldest.connection.waitingSince.compareExchange(
                        expected: oldest.since, desired: ConnectionActivity.evicted, ordering: .relaxed
                    ).exchanged {
                        connections[oldest.key] = nil
                        victim = oldest.connection
                    }
                }
            }
            connections[ObjectIdentifier(connection)] = connection
            return (true, victim)
        }
        if let victim {
            logger.debug("connection bound reached: closing the longest-waiting connection", metadata: ["hb.connections": "\(maximum)"])
            victim.channel.close(promise: nil)
        }
        if !admitted {
            logger.debug(
                "connection bound reached with every connection busy: closing the new one",
                metadata: ["hb.connections": "\(maximum)"])
        }
        return admitted
    }

    /// Forgets a connection that closed.
    func remove(_ connection: ConnectionActivity) {
        connections.withLock { $0[ObjectIdentifier(connection)] = nil }
    }
}
