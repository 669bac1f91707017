import CLibPQ
import Dispatch
import UserPorts

/// Cancels the query of one operation when its task is cancelled (`PQcancel`), and no other.
///
/// `PQcancel` is documented as safe to call from any thread; it opens a connection of its own, so it runs on
/// a dispatch queue, never on the cancelling thread. The server may act on a cancel request after the query
/// it aimed at has finished, so a connection that was sent one is never reused (``wasCancelled``).
final class PostgresCanceller: Sendable {
    private struct State {
        /// The `PGcancel` address (an integer, so that the state is Sendable); 0 when closed.
        var cancel: UInt = 0
        var current: UInt64 = 0
        var nextID: UInt64 = 0
        var issued = false
        /// Operations registered and not yet ended.
        var pending: Set<UInt64> = []
        /// Operations cancelled before they began: they must not begin.
        var cancelledEarly: Set<UInt64> = []
    }

    private let state = Locked(State())

    func attach(_ cancel: OpaquePointer?) {
        state.withLock { $0.cancel = cancel.map { UInt(bitPattern: Int(bitPattern: $0)) } ?? 0 }
    }

    /// Frees the cancel handle; waits for a cancel request in flight (it holds the lock).
    func detach() {
        state.withLock { state in
            if let cancel = OpaquePointer(bitPattern: state.cancel) { PQfreeCancel(cancel) }
            state.cancel = 0
        }
    }

    /// Registers a new operation.
    func nextID() -> UInt64 {
        state.withLock { state in
            state.nextID += 1
            state.pending.insert(state.nextID)
            return state.nextID
        }
    }

    /// Marks `id` as running; `false` when it was cancelled before it began (then it must not run).
    func begin(_ id: UInt64) -> Bool {
        state.withLock { state in
            if state.cancelledEarly.remove(id) != nil { return false }
            state.current = id
            return true
        }
    }

    /// Ends `id`, run or not.
    func end(_ id: UInt64) {
        state.withLock { state in
            if state.current == id { state.current = 0 }
            state.pending.remove(id)
            state.cancelledEarly.remove(id)
        }
    }

    var wasCancelled: Bool { state.withLock { $0.issued } }

    /// Sends a cancel request if `id` is running, or stops it from beginning if it has not begun yet.
    func cancel(_ id: UInt64) {
        let aimed = state.withLock { state -> Bool in
            guard state.current == id else {
                if state.pending.contains(id) { state.cancelledEarly.insert(id) }
                return false
            }
            guard state.cancel != 0 else { return false }
            state.issued = true
            return true
        }
        guard aimed else { return }
        DispatchQueue.global().async {
            self.state.withLock { state in
                guard let cancel = OpaquePointer(bitPattern: state.cancel) else { return }
                var buffer = [CChar](repeating: 0, count: 256)
                _ = PQcancel(cancel, &buffer, Int32(buffer.count))
            }
        }
    }
}

/// Owns one libpq connection on its own serial queue: every blocking libpq call runs there, never on
/// Swift's cooperative thread pool. Callers `await` it.
actor PostgresWorker {
    private let executor: QueueExecutor
    private let canceller = PostgresCanceller()
    private var connection: PostgresConnection?

    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    init() {
        executor = QueueExecutor(label: "user-postgres.connection")
    }

    /// Connects on the worker's queue.
    func connect(_ conninfo: String) throws {
        let connection = try PostgresConnection(conninfo: conninfo)
        canceller.attach(connection.makeCancel())
        self.connection = connection
        reusable.withLock { $0 = true }
    }

    /// Whether the connection can be handed to the next caller: connected, idle, never sent a cancel.
    /// Written on the worker's queue after every operation, read by the pool without a hop.
    nonisolated var isReusable: Bool { reusable.withLock { $0 } }
    private let reusable = Locked(false)

    func close() {
        reusable.withLock { $0 = false }
        canceller.detach()
        connection = nil
    }

    private func run<T: Sendable>(_ id: UInt64, _ body: @Sendable (PostgresConnection) throws -> T) throws -> T {
        defer {
            canceller.end(id)
            let healthy = connection.map { $0.isHealthy && !canceller.wasCancelled } ?? false
            reusable.withLock { $0 = healthy }
        }
        guard let connection else {
            throw PostgresError(sqlState: nil, message: "the connection is closed", connectionLost: true)
        }
        // Cancelled before it began (by the handler, or before `perform` was entered): never start it.
        guard canceller.begin(id), !Task.isCancelled else { throw CancellationError() }
        return try body(connection)
    }

    /// Runs `body` with the connection on the worker's queue. Cancelling the calling task sends a cancel
    /// request for the query that runs for it; the query then fails with SQLSTATE 57014.
    nonisolated func perform<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws
        -> T
    {
        let id = canceller.nextID()
        return try await withTaskCancellationHandler {
            try await run(id, body)
        } onCancel: {
            canceller.cancel(id)
        }
    }
}
