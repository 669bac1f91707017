import CLibPQ
import Foundation
import Logging
import UserPorts

/// The dedicated LISTEN connection: raises the store's commit signal when any process commits events
/// (writers `NOTIFY user_events` inside their transaction).
///
/// It runs on a thread of its own, started by ``start()`` (the store's `open`), never by the initialiser. The
/// thread waits in `poll` on the connection's socket and a wake-up channel together, so it never holds a
/// thread of Swift's cooperative pool and ``stop()`` wakes it at once: while it waits for a notification,
/// while it connects, and while it waits out the backoff after a failed connect. It reconnects with backoff
/// (100 ms doubling to 5 s) when the server goes away, and raises the signal after each reconnect, since
/// notifications sent meanwhile are lost (the relay's poll covers them anyway).
final class PostgresListener: Sendable {
    static let channel = "user_events"

    /// The wait after the n-th consecutive failed connect: 100 ms doubling to 5 s.
    static let defaultBackoff: @Sendable (Int) -> Duration = { failures in
        min(.milliseconds(100) * (1 << min(failures - 1, 6)), .seconds(5))
    }

    private struct State {
        var started = false
        var stopping = false
        var finished = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        var failures = 0
    }

    private let url: PostgresURL
    private let signal: CommitSignal
    private let logger: Logger
    private let backoff: @Sendable (Int) -> Duration
    private let wakeUp: PostgresWakeUp
    private let state = Locked(State())

    /// A listener that does nothing until ``start()``.
    init(
        url: PostgresURL, signal: CommitSignal, logger: Logger,
        backoff: @escaping @Sendable (Int) -> Duration = PostgresListener.defaultBackoff
    ) throws {
        self.url = url
        self.signal = signal
        self.logger = logger
        self.backoff = backoff
        self.wakeUp = try PostgresWakeUp()
    }

    /// Starts the thread, which connects and listens until ``stop()``. Once; not after ``stop()``.
    func start() {
        let start = state.withLock { state in
            guard !state.started, !state.stopping else { return false }
            state.started = true
            return true
        }
        guard start else { return }
        let thread = Thread { [self] in
            listen()
            finish()
        }
        thread.name = "user-postgres.listen"
        thread.start()
    }

    /// Stops listening: wakes the thread and returns when it has closed its connection and ended (at once
    /// when it never started). Idempotent.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state in
                state.stopping = true
                if !state.started || state.finished { return true }
                state.stopWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() } else { wakeUp.signal() }
        }
    }

    /// Whether the thread was started and has not ended: for tests that check nothing outlives a close.
    var isRunning: Bool {
        state.withLock { $0.started && !$0.finished }
    }

    /// Connects that failed in a row (the thread is in backoff when this is more than 0): for tests.
    var consecutiveFailures: Int {
        state.withLock { $0.failures }
    }

    private var isStopping: Bool {
        state.withLock { $0.stopping }
    }

    // MARK: The listener's thread

    private func listen() {
        var connection: PostgresConnection?
        var failures = 0
        while !isStopping {
            guard let current = connection else {
                do {
                    let fresh = try PostgresConnection(conninfo: url.conninfo, wakeFD: wakeUp.readFD)
                    try fresh.execute("LISTEN \(Self.channel)")
                    connection = fresh
                    if failures > 0 { logger.info("postgres listener reconnected") }
                    failures = 0
                    state.withLock { $0.failures = 0 }
                    signal.signal()
                } catch {
                    if isStopping { break }
                    failures += 1
                    state.withLock { $0.failures = failures }
                    logger.debug("postgres listener can't connect", metadata: ["error": "\(url.redact("\(error)"))"])
                    // The backoff, or until stop() wakes the thread.
                    let delay = backoff(failures)
                    let milliseconds = Int32(clamping: Int64((delay / .milliseconds(1)).rounded(.up)))
                    _ = user_domain_wait(-1, 0, wakeUp.readFD, milliseconds)
                }
                continue
            }
            let socket = PQsocket(current.handle)
            if socket < 0 {
                connection = nil
                continue
            }
            let ready = user_domain_wait(socket, Int16(POLLIN), wakeUp.readFD, -1)
            if ready == 2 { break }  // stop()
            if ready < 0 {
                connection = nil
                continue
            }
            if ready == 0 { continue }
            if PQconsumeInput(current.handle) == 0 || PQstatus(current.handle) != CONNECTION_OK {
                connection = nil
                continue
            }
            var notified = false
            while let notification = PQnotifies(current.handle) {
                PQfreemem(notification)
                notified = true
            }
            if notified { signal.signal() }
        }
    }

    /// The thread's last act, after its connection is closed: resumes every ``stop()``.
    private func finish() {
        let waiters = state.withLock { state in
            state.finished = true
            defer { state.stopWaiters.removeAll() }
            return state.stopWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
