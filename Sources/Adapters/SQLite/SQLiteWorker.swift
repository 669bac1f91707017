import CSQLite
import Dispatch
import UserPorts

/// An executor that runs its jobs on one serial dispatch queue: a thread owned by the connection, never
/// Swift's cooperative pool, so SQLite calls that wait (on a lock, on the disk) block only this queue.
final class QueueExecutor: SerialExecutor {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label, qos: .userInitiated)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async {
            job.runSynchronously(on: self.asUnownedSerialExecutor())
        }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }
}

/// Interrupts the statement of one operation when its task is cancelled, and no other.
///
/// `sqlite3_interrupt` is documented as safe to call from any thread while the connection is open. The
/// handle is attached after opening and detached before closing, both under the lock that `interrupt`
/// holds while it calls SQLite, and an operation is only interrupted while it is the current one.
final class SQLiteInterrupter: Sendable {
    private struct State {
        /// The connection handle's address (an integer, so that the state is Sendable); 0 when closed.
        var handle: UInt = 0
        var current: UInt64 = 0
        var nextID: UInt64 = 0
    }

    private let state = Locked(State())

    func attach(_ handle: OpaquePointer) { state.withLock { $0.handle = UInt(bitPattern: Int(bitPattern: handle)) } }
    func detach() { state.withLock { $0.handle = 0 } }

    func nextID() -> UInt64 {
        state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
    }

    func begin(_ id: UInt64) { state.withLock { $0.current = id } }
    func end() { state.withLock { $0.current = 0 } }

    func interrupt(_ id: UInt64) {
        state.withLock { state in
            if state.current == id, let handle = OpaquePointer(bitPattern: state.handle) { sqlite3_interrupt(handle) }
        }
    }
}

/// Owns one connection on its own serial queue; callers `await` it.
actor SQLiteWorker {
    private let executor: QueueExecutor
    private let interrupter = SQLiteInterrupter()
    private var connection: SQLiteConnection?

    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    init(label: String) {
        executor = QueueExecutor(label: label)
    }

    /// Opens the connection on the worker's queue and prepares it with `setUp` (pragmas, migrations).
    func open(
        _ makeConnection: @Sendable () throws -> SQLiteConnection, setUp: @Sendable (SQLiteConnection) throws -> Void
    )
        throws
    {
        let connection = try makeConnection()
        try setUp(connection)
        interrupter.attach(connection.handle)
        self.connection = connection
    }

    /// Closes the connection; later operations throw `UserStoreError.closed`.
    func close() {
        interrupter.detach()
        connection = nil
    }

    private func run<T: Sendable>(_ id: UInt64, _ body: @Sendable (SQLiteConnection) throws -> T) throws -> T {
        try Task.checkCancellation()
        guard let connection else { throw UserStoreError(.closed, "The SQLite store is closed.") }
        interrupter.begin(id)
        defer { interrupter.end() }
        return try body(connection)
    }

    /// Runs `body` with the connection on the worker's queue. Cancelling the calling task interrupts the
    /// statement that runs for it (`sqlite3_interrupt`), which then fails with `SQLITE_INTERRUPT`.
    nonisolated func perform<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws
        -> T
    {
        let id = interrupter.nextID()
        return try await withTaskCancellationHandler {
            try await run(id, body)
        } onCancel: {
            interrupter.interrupt(id)
        }
    }
}
