import CLibPQ
import Foundation
import Logging
import UserPorts

/// The dedicated LISTEN connection: raises the store's commit signal when any process commits events
/// (writers `NOTIFY user_events` inside their transaction).
///
/// It runs on a thread of its own, waiting on the socket with `poll`, so it never holds a thread of Swift's
/// cooperative pool. It reconnects with backoff when the server goes away, and raises the signal after each
/// reconnect, since notifications sent meanwhile are lost (the relay's poll covers them anyway).
final class PostgresListener: Sendable {
    static let channel = "user_events"

    private let stopped = Locked(false)
    private let finished = DispatchSemaphore(value: 0)

    init(url: PostgresURL, signal: CommitSignal, logger: Logger) {
        let stopped = self.stopped
        let finished = self.finished
        let thread = Thread {
            Self.loop(url: url, signal: signal, logger: logger, stopped: stopped)
            finished.signal()
        }
        thread.name = "user-postgres.listen"
        thread.start()
    }

    /// Stops listening and waits (up to a few seconds) for the thread to end.
    func stop() {
        stopped.withLock { $0 = true }
        _ = finished.wait(timeout: .now() + .seconds(3))
    }

    private static func loop(url: PostgresURL, signal: CommitSignal, logger: Logger, stopped: Locked<Bool>) {
        var connection: PostgresConnection?
        var failures = 0
        while !stopped.withLock({ $0 }) {
            guard let current = connection else {
                do {
                    let fresh = try PostgresConnection(conninfo: url.conninfo)
                    try fresh.execute("LISTEN \(channel)")
                    connection = fresh
                    if failures > 0 { logger.info("postgres listener reconnected") }
                    failures = 0
                    signal.signal()
                } catch {
                    failures += 1
                    let delay = min(5000, 100 << min(failures - 1, 6))
                    logger.debug("postgres listener can't connect", metadata: ["error": "\(url.redact("\(error)"))"])
                    // Sleep in short steps so that stop() is honoured promptly.
                    var slept = 0
                    while slept < delay, !stopped.withLock({ $0 }) {
                        usleep(50_000)
                        slept += 50
                    }
                }
                continue
            }
            let ready = user_domain_pq_wait_readable(current.handle, 250)
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
}
