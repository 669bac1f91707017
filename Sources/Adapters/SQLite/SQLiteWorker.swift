import CSQLite
import UserPorts

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
        /// Operations registered and not yet ended.
        var pending: Set<UInt64> = []
        /// Operations cancelled before they began: they must not begin.
        var cancelledEarly: Set<UInt64> = []
    }

    private let state = Locked(State())

    func attach(_ handle: OpaquePointer) { state.withLock { $0.handle = UInt(bitPattern: Int(bitPattern: handle)) } }
    func detach() { state.withLock { $0.handle = 0 } }

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

    /// Interrupts `id` if it is running, or stops it from beginning if it has not begun yet.
    func interrupt(_ id: UInt64) {
        state.withLock { state in
            if state.current == id {
                if let handle = OpaquePointer(bitPattern: state.handle) { sqlite3_interrupt(handle) }
            } else if state.pending.contains(id) {
                state.cancelledEarly.insert(id)
            }
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
        defer { interrupter.end(id) }
        guard let connection else { throw UserStoreError(.closed, "The SQLite store is closed.") }
        // Cancelled before it began (by the handler, or before `perform` was entered): never start it.
        guard interrupter.begin(id), !Task.isCancelled else { throw CancellationError() }
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
