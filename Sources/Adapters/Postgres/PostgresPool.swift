import Logging
import UserPorts

/// A bounded pool of ``PostgresWorker``s.
///
/// Connections are made on demand up to `maximumConnections`, by the task of the caller that needs one (on
/// the new worker's queue, awaited by that caller); a caller that finds none free waits in line (first come,
/// first served, ``PostgresPoolWaiters``) up to `acquireTimeout`, then fails with `unavailable`. A connection
/// that failed, lost its server or was sent a cancel is closed instead of returned, and its slot goes to the
/// first waiter, whose own task then connects. When connecting fails (the server is down), later attempts
/// wait for an exponential backoff (100 ms doubling to 5 s) and callers fail fast with `unavailable`
/// meanwhile, so no call hangs past the acquire timeout during an outage; the first attempt after the
/// backoff reconnects. Connections idle longer than `maximumIdleTime` are closed (down to
/// `minimumConnections`), and one idle for more than 10 s is checked with a round trip before it is handed
/// out. No task is spawned: every connect and close runs in the task of a caller, and timeouts share one
/// timer.
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

    private let url: PostgresURL
    private let settings: Settings
    private let logger: Logger
    private var idle: [Idle] = []
    /// Connections handed out, idle, or being made; at most `maximumConnections`.
    private var total = 0
    /// Connections being closed: ``close()`` waits until none is left.
    private var closing = 0
    private let waiters: PostgresPoolWaiters
    private var reconnect: PostgresReconnect
    private var isClosed = false
    private var drained: [CheckedContinuation<Void, Never>] = []

    init(url: PostgresURL, settings: Settings, logger: Logger) {
        self.url = url
        self.settings = settings
        self.logger = logger
        self.reconnect = PostgresReconnect(url: url, logger: logger)
        self.waiters = PostgresPoolWaiters(timeout: settings.acquireTimeout) {
            UserStoreError(
                .unavailable,
                "No PostgreSQL connection became free within \(settings.acquireTimeout) "
                    + "(\(settings.maximumConnections) in use).")
        }
    }

    /// A connection for one operation; give it back with ``release(_:)``.
    func acquire() async throws -> PostgresWorker {
        if isClosed { throw Self.closedError }
        if hasExpiredIdle(now: .now) { await pruneIdle() }
        while let candidate = idle.popLast() {
            if ContinuousClock.now - candidate.since > .seconds(10) {
                let alive = (try? await candidate.worker.perform { _ = try $0.execute("SELECT 1") }) != nil
                if !alive {
                    await discard(candidate.worker)
                    continue
                }
            }
            return candidate.worker
        }
        if total < settings.maximumConnections {
            try reconnect.check()
            total += 1
            return try await connectCounted()
        }
        switch try await waiters.wait() {
        case .connection(let worker):
            return worker
        case .connect:
            // A slot was counted for this caller when it was granted.
            if isClosed {
                total -= 1
                drainedIfDone()
                throw Self.closedError
            }
            do {
                try reconnect.check()
            } catch {
                total -= 1
                grantSlotIfRoom()
                throw error
            }
            return try await connectCounted()
        }
    }

    /// Returns a connection: reused when it is healthy, closed otherwise.
    func release(_ worker: PostgresWorker) async {
        guard worker.isReusable, !isClosed else {
            await discard(worker)
            return
        }
        if !waiters.grantFirst(.connection(worker)) {
            idle.append(Idle(worker: worker, since: .now))
        }
    }

    /// Closes every idle connection: after a lost connection, the others to the same server are likely dead.
    func invalidateIdle() async {
        let stale = idle
        idle.removeAll()
        for entry in stale { await discard(entry.worker) }
    }

    /// Closes the pool: waiters fail with `closed`, idle connections close now, busy ones as they come back;
    /// returns once every connection is closed. Idempotent.
    func close() async {
        isClosed = true
        waiters.failAll(Self.closedError)
        await invalidateIdle()
        if total == 0 && closing == 0 { return }
        await withCheckedContinuation { drained.append($0) }
    }

    /// Connections handed out (or being made for a caller) and not given back yet.
    var inUse: Int { total - idle.count }

    /// Callers waiting for a connection: for tests.
    nonisolated var waiting: Int { waiters.count }

    private static var closedError: UserStoreError { UserStoreError(.closed, "The PostgreSQL store is closed.") }

    /// Makes a connection for a slot already counted in `total`, in the caller's task on the new worker's
    /// queue; on failure gives the slot up (to the next waiter, who then fails fast during the backoff).
    private func connectCounted() async throws -> PostgresWorker {
        let worker = PostgresWorker()
        do {
            try await worker.connect(url.conninfo)
            reconnect.succeeded()
        } catch {
            total -= 1
            let mapped = reconnect.failed(error)
            await worker.close()
            grantSlotIfRoom()
            drainedIfDone()
            throw mapped
        }
        if isClosed {
            // Closed while connecting: nobody will release this one.
            await discard(worker)
            throw Self.closedError
        }
        return worker
    }

    /// Gives a free slot to the first waiter, whose task then connects.
    private func grantSlotIfRoom() {
        guard !isClosed, total < settings.maximumConnections else { return }
        total += 1
        if !waiters.grantFirst(.connect) { total -= 1 }
    }

    /// Closes a connection (on its queue, awaited) and frees its slot for a waiter.
    private func discard(_ worker: PostgresWorker) async {
        total -= 1
        closing += 1
        grantSlotIfRoom()
        await worker.close()
        closing -= 1
        drainedIfDone()
    }

    /// Resumes ``close()`` once the pool is closed and no connection is left.
    private func drainedIfDone() {
        guard isClosed, total == 0, closing == 0 else { return }
        let waiting = drained
        drained.removeAll()
        for continuation in waiting { continuation.resume() }
    }

    /// Whether the oldest idle connection has been idle too long (and the pool is above its minimum): the
    /// check on every acquire, without a suspension when there is nothing to close.
    private func hasExpiredIdle(now: ContinuousClock.Instant) -> Bool {
        guard let oldest = idle.first else { return false }
        return total > settings.minimumConnections && now - oldest.since > settings.maximumIdleTime
    }

    private func pruneIdle() async {
        let now = ContinuousClock.now
        while hasExpiredIdle(now: now) {
            await discard(idle.removeFirst().worker)
        }
    }
}

extension PostgresPool {
    /// The pool of a consumer or a replica, ready: no connection until one is needed, at least one at most, idle
    /// ones closed after a minute. `setUp` (the schema) runs first on one of its connections; when it fails, the
    /// pool is closed and its error thrown.
    ///
    /// - Throws: `UserStoreError`, with the password redacted, when the URL is malformed or the database can't
    ///   be used; what `setUp` throws.
    static func onDemand(
        url text: String, maximumConnections: Int, acquireTimeout: Duration, logger: Logger,
        setUp: @escaping @Sendable (PostgresConnection, PostgresURL) throws -> Void
    ) async throws -> (pool: PostgresPool, url: PostgresURL) {
        let url = try PostgresURL(text, connectTimeout: .seconds(5))
        let pool = PostgresPool(
            url: url,
            settings: .init(
                minimumConnections: 0, maximumConnections: max(1, maximumConnections), acquireTimeout: acquireTimeout,
                maximumIdleTime: .seconds(60)),
            logger: logger)
        do {
            try await PostgresUserStore.withConnection(pool: pool, url: url) { try setUp($0, url) }
        } catch {
            await pool.close()
            throw error
        }
        return (pool, url)
    }
}
