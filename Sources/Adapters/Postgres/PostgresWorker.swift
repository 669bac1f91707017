import CLibPQ
import Dispatch
import UserAdapterSupport
import UserPorts

/// Cancels the query of one operation when its task is cancelled (`PQcancel`), and no other.
///
/// `PQcancel` is documented as safe to call from any thread; it opens a connection of its own, so it runs on
/// the canceller's own serial queue (never the cancelling thread, which may be one of Swift's cooperative
/// pool, nor a global queue), and holds the handle's lock so that the handle is not freed meanwhile:
/// ``detach()``, which the worker's close calls, waits for a cancel request in flight. The server may act on a cancel request after the query it aimed at has finished, so a
/// connection that was sent one is never reused (``wasCancelled``). `OperationGate` (UserPorts) makes sure that only
/// the cancelled task's own query is aimed at.
final class PostgresCanceller: Sendable {
    /// The `PGcancel` address (an integer, so that it is Sendable); 0 when closed.
    private let cancelHandle = Locked<UInt>(0)
    private let issued = Locked(false)
    /// Where cancel requests run, one at a time (a queue has no thread until it has work).
    private let queue = DispatchQueue(label: "user-postgres.cancel", qos: .userInitiated)
    let gate = OperationGate()

    func attach(_ cancel: OpaquePointer?) {
        cancelHandle.withLock { $0 = cancel.map { UInt(bitPattern: Int(bitPattern: $0)) } ?? 0 }
    }

    /// Frees the cancel handle; waits for a cancel request in flight (it holds the lock).
    func detach() {
        cancelHandle.withLock { address in
            if let cancel = OpaquePointer(bitPattern: address) { PQfreeCancel(cancel) }
            address = 0
        }
    }

    var wasCancelled: Bool { issued.withLock { $0 } }

    func cancel(_ id: UInt64) {
        gate.cancel(id) {
            issued.withLock { $0 = true }
            queue.async {
                self.cancelHandle.withLock { address in
                    guard let cancel = OpaquePointer(bitPattern: address) else { return }
                    var buffer = [CChar](repeating: 0, count: 256)
                    _ = PQcancel(cancel, &buffer, Int32(buffer.count))
                }
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
            canceller.gate.end(id)
            let healthy = connection.map { $0.isHealthy && !canceller.wasCancelled } ?? false
            reusable.withLock { $0 = healthy }
        }
        guard let connection else {
            throw PostgresError(sqlState: nil, message: "the connection is closed", connectionLost: true)
        }
        // Cancelled before it began (by the handler, or before `perform` was entered): never start it.
        guard canceller.gate.begin(id), !Task.isCancelled else { throw CancellationError() }
        return try body(connection)
    }

    /// Runs `body` with the connection on the worker's queue. Cancelling the calling task sends a cancel
    /// request for the query that runs for it; the query then fails with SQLSTATE 57014.
    nonisolated func perform<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws
        -> T
    {
        let id = canceller.gate.register()
        return try await withTaskCancellationHandler {
            try await run(id, body)
        } onCancel: {
            canceller.cancel(id)
        }
    }
}
