import Logging
import UserPorts

/// A bounded pool of ``PostgresWorker``s.
///
/// Connections are made on demand up to `maximumConnections`; a caller that finds none free waits up to
/// `acquireTimeout`, then fails with `unavailable`. A connection that failed, lost its server or was sent a
/// cancel is closed instead of returned. When connecting fails (the server is down), later attempts wait for
/// an exponential backoff (100 ms doubling to 5 s) and callers fail fast with `unavailable` meanwhile, so no
/// call hangs past the acquire timeout during an outage; the first attempt after the backoff reconnects.
/// Connections idle longer than `maximumIdleTime` are closed (down to `minimumConnections`), and one idle
/// for more than 10 s is checked with a round trip before it is handed out.
actor PostgresPool {
    struct Settings: Sendable {
        var minimumConnections: Int
        var maximumConnections: Int
        var acquireTimeout: Duration
        var maximumIdleTime: Duration
    }

    private struct Idle {
        let worker: PostgresWorker
        let since: ContinuousClock.Instant
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<PostgresWorker, any Error>
        let timeout: Task<Void, Never>
    }

    private let url: PostgresURL
    private let settings: Settings
    private let logger: Logger
    private var idle: [Idle] = []
    private var total = 0
    private var waiters: [Waiter] = []
    private var nextWaiterID: UInt64 = 0
    private var reconnect: PostgresReconnect
    private var isClosed = false

    init(url: PostgresURL, settings: Settings, logger: Logger) {
        self.url = url
        self.settings = settings
        self.logger = logger
        self.reconnect = PostgresReconnect(url: url, logger: logger)
    }

    /// A connection for one operation; give it back with ``release(_:)``.
    func acquire() async throws -> PostgresWorker {
        if isClosed { throw UserStoreError(.closed, "The PostgreSQL store is closed.") }
        pruneIdle()
        while let candidate = idle.popLast() {
            if ContinuousClock.now - candidate.since > .seconds(10) {
                let alive = (try? await candidate.worker.perform { _ = try $0.execute("SELECT 1") }) != nil
                if !alive {
                    discard(candidate.worker)
                    continue
                }
            }
            return candidate.worker
        }
        if total < settings.maximumConnections {
            return try await connect()
        }
        return try await waitForRelease()
    }

    /// Returns a connection: reused when it is healthy, closed otherwise.
    func release(_ worker: PostgresWorker) async {
        guard worker.isReusable, !isClosed else {
            discard(worker)
            if !waiters.isEmpty, total < settings.maximumConnections, !isClosed {
                // Replace it for the first waiter.
                Task { await self.connectForWaiter() }
            }
            return
        }
        if !waiters.isEmpty {
            let waiter = waiters.removeFirst()
            waiter.timeout.cancel()
            waiter.continuation.resume(returning: worker)
        } else {
            idle.append(Idle(worker: worker, since: .now))
        }
    }

    /// Closes every idle connection: after a lost connection, the others to the same server are likely dead.
    func invalidateIdle() {
        let stale = idle
        idle.removeAll()
        for entry in stale { discard(entry.worker) }
    }

    /// Closes the pool: idle connections now, busy ones as they come back; waiters fail with `closed`.
    func close() {
        isClosed = true
        invalidateIdle()
        for waiter in waiters {
            waiter.timeout.cancel()
            waiter.continuation.resume(throwing: UserStoreError(.closed, "The PostgreSQL store is closed."))
        }
        waiters.removeAll()
    }

    private func connect() async throws -> PostgresWorker {
        try reconnect.check()
        total += 1
        let worker = PostgresWorker()
        do {
            let conninfo = url.conninfo
            try await worker.connect(conninfo)
            reconnect.succeeded()
            return worker
        } catch {
            total -= 1
            throw reconnect.failed(error)
        }
    }

    private func connectForWaiter() async {
        guard !waiters.isEmpty, total < settings.maximumConnections else { return }
        do {
            let worker = try await connect()
            await release(worker)
        } catch {
            // Leave the waiters to their timeout; the next release or attempt tries again.
        }
    }

    private func waitForRelease() async throws -> PostgresWorker {
        nextWaiterID += 1
        let id = nextWaiterID
        let timeout = settings.acquireTimeout
        return try await withCheckedThrowingContinuation { continuation in
            let timer = Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { self.expire(id) }
            }
            waiters.append(Waiter(id: id, continuation: continuation, timeout: timer))
        }
    }

    private func expire(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        let waiter = waiters.remove(at: index)
        waiter.continuation.resume(
            throwing: UserStoreError(
                .unavailable,
                "No PostgreSQL connection became free within \(settings.acquireTimeout) "
                    + "(\(settings.maximumConnections) in use)."))
    }

    /// Connections handed out (or being made for a caller) and not given back yet.
    var inUse: Int { total - idle.count }

    private func discard(_ worker: PostgresWorker) {
        total -= 1
        Task { await worker.close() }
    }

    private func pruneIdle() {
        let now = ContinuousClock.now
        while idle.count > 0, total > settings.minimumConnections, now - idle[0].since > settings.maximumIdleTime {
            discard(idle.removeFirst().worker)
        }
    }
}
