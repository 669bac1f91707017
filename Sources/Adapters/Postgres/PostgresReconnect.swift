import Logging
import UserAdapterSupport
import UserPorts

/// Connecting with backoff, for the pool and the lookup connections alike: after a failed connect, further
/// attempts wait 100 ms doubling to 5 s, and callers fail at once with `unavailable` meanwhile, so that no
/// call hangs past its timeout while the server is down; the first attempt after the backoff reconnects.
struct PostgresReconnect {
    let url: PostgresURL
    let logger: Logger
    private var backoff = ReconnectBackoff()
    private var lastError: (any Error)?

    init(url: PostgresURL, logger: Logger) {
        self.url = url
        self.logger = logger
    }

    /// Throws `unavailable` while the backoff after a failed connect runs.
    func check() throws {
        if backoff.isWaiting {
            throw UserStoreError(
                .unavailable, "The PostgreSQL server at \(url.redacted) is unreachable; retrying shortly.",
                underlying: lastError)
        }
    }

    /// Records a connect that worked (and says so in the log after failures).
    mutating func succeeded() {
        if backoff.succeeded() { logger.info("postgres connection restored", metadata: ["url": "\(url.redacted)"]) }
    }

    /// Records a connect that failed and starts the backoff; returns the error to give callers.
    mutating func failed(_ error: any Error) -> any Error {
        backoff.failed()
        let mapped = PostgresErrors.map(error, url: url, connecting: true)
        lastError = mapped
        logger.warning("postgres connection failed", metadata: ["url": "\(url.redacted)", "error": "\(mapped)"])
        return mapped
    }
}
