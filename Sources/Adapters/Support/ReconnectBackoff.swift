/// When a connection that failed to connect may be tried again: after a failed connect, 100 ms doubling to 5 s,
/// during which callers fail at once instead of waiting on a server that is down; the first attempt after it
/// connects again. The policy of every adapter that connects on demand (PostgreSQL's pool and lookup
/// connections, Redis).
package struct ReconnectBackoff: Sendable {
    private var failures = 0
    private var retryAfter: ContinuousClock.Instant?

    package init() {}

    /// Whether a connect must not be tried yet.
    package var isWaiting: Bool {
        retryAfter.map { ContinuousClock.now < $0 } ?? false
    }

    /// Records a connect that worked; `true` when it follows failures (worth a line in the log).
    package mutating func succeeded() -> Bool {
        defer {
            failures = 0
            retryAfter = nil
        }
        return failures > 0
    }

    /// Records a connect that failed and starts the wait.
    package mutating func failed() {
        failures += 1
        retryAfter = .now + min(.milliseconds(100) * (1 << min(failures - 1, 6)), .seconds(5))
    }
}
