import Logging
import UserAdapterSupport
import UserPorts

/// Owns one Redis connection on a serial queue of its own: every blocking hiredis call runs there, never on
/// Swift's cooperative thread pool. Connects on first use and again after the connection is lost; after a
/// failed connect, calls fail at once with `unavailable` for the adapters' `ReconnectBackoff` (100 ms doubling to
/// 5 s), so that no call waits on a server that is down, and the first call after it connects again.
actor RedisClient {
    private let executor = QueueExecutor(label: "user-redis.connection")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private let url: RedisURL
    private let logger: Logger
    private var connection: RedisConnection?
    private var backoff = ReconnectBackoff()
    private var closed = false

    init(url: RedisURL, logger: Logger) {
        self.url = url
        self.logger = logger
    }

    /// Runs `body` with the connection, on this client's queue.
    ///
    /// A connection lost on the way is dropped (the next call connects again); with `retrying`, `body` runs once
    /// more on a fresh connection first: only for bodies that are safe to repeat.
    ///
    /// - Throws: `UserStoreError` (`unavailable` for a lost or refused connection, `accessDenied` for refused
    ///   credentials, `closed` after ``close()``), or what `body` throws.
    func run<T: Sendable>(retrying: Bool, _ body: @Sendable (RedisConnection) throws -> T) throws -> T {
        for attempt in 0..<2 {
            let live = try connected()
            do {
                return try body(live)
            } catch RedisFailure.connection(let message) {
                connection = nil
                logger.warning("redis connection lost", metadata: ["url": "\(url.redacted)", "error": "\(message)"])
                if retrying && attempt == 0 { continue }
                throw UserStoreError(
                    .unavailable, "The connection to Redis at \(url.redacted) was lost: \(message)")
            } catch RedisFailure.server(let message) {
                throw UserStoreError(
                    Self.isTransient(message) ? .unavailable : .internal,
                    "Redis at \(url.redacted) refused a command: \(message)")
            }
        }
        preconditionFailure("unreachable: the second attempt returns or throws")
    }

    /// Whether an error reply says "not now" rather than "never": a server loading its data after a restart, a
    /// script running too long, a replica without its primary, a primary that became a replica, no memory left.
    static func isTransient(_ message: String) -> Bool {
        ["LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "READONLY", "OOM", "CLUSTERDOWN", "EXECABORT"].contains {
            message.hasPrefix($0)
        }
    }

    /// Closes the connection; later calls throw `closed`.
    func close() {
        closed = true
        connection = nil
    }

    private func connected() throws(UserStoreError) -> RedisConnection {
        if closed { throw UserStoreError(.closed, "The Redis directory is closed.") }
        if let connection { return connection }
        if backoff.isWaiting {
            throw UserStoreError(.unavailable, "Redis at \(url.redacted) is unreachable; retrying shortly.")
        }
        do {
            let fresh = try RedisConnection(url: url)
            if backoff.succeeded() { logger.info("redis connection restored", metadata: ["url": "\(url.redacted)"]) }
            connection = fresh
            return fresh
        } catch {
            backoff.failed()
            let mapped: UserStoreError
            switch error {
            case .server(let message) where message.hasPrefix("WRONGPASS") || message.hasPrefix("NOAUTH")
                || message.contains("invalid password") || message.hasPrefix("NOPERM"):
                mapped = UserStoreError(.accessDenied, "Redis at \(url.redacted) refused the credentials.")
            case .server(let message) where Self.isTransient(message):
                mapped = UserStoreError(.unavailable, "Redis at \(url.redacted) is not ready: \(message)")
            case .server(let message):
                mapped = UserStoreError(.invalidConfiguration, "Redis at \(url.redacted) refused the connection: \(message)")
            case .connection(let message):
                mapped = UserStoreError(.unavailable, "Redis at \(url.redacted) can't be reached: \(message)")
            }
            logger.warning("redis connection failed", metadata: ["url": "\(url.redacted)", "error": "\(mapped)"])
            throw mapped
        }
    }
}
