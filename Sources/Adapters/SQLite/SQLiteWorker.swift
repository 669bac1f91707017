import CSQLite
import UserAdapterSupport
import UserPorts

/// Interrupts the statement of one operation when its task is cancelled, and no other.
///
/// `sqlite3_interrupt` is documented as safe to call from any thread while the connection is open. The
/// handle is attached after opening and detached before closing, under the lock that the interrupt reads it
/// with; `OperationGate` (UserPorts) makes sure that only the cancelled task's own statement is interrupted.
final class SQLiteInterrupter: Sendable {
    /// The connection handle's address (an integer, so that it is Sendable); 0 when closed.
    private let handle = Locked<UInt>(0)
    let gate = OperationGate()

    func attach(_ handle: OpaquePointer) { self.handle.withLock { $0 = UInt(bitPattern: Int(bitPattern: handle)) } }
    func detach() { handle.withLock { $0 = 0 } }

    func interrupt(_ id: UInt64) {
        gate.cancel(id) {
            handle.withLock { address in
                if let handle = OpaquePointer(bitPattern: address) { sqlite3_interrupt(handle) }
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
        defer { interrupter.gate.end(id) }
        guard let connection else { throw UserStoreError(.closed, "The SQLite store is closed.") }
        // Cancelled before it began (by the handler, or before `perform` was entered): never start it.
        guard interrupter.gate.begin(id), !Task.isCancelled else { throw CancellationError() }
        return try body(connection)
    }

    /// Runs a write: ``perform(_:)`` after checking that the database file is still the one its path names
    /// (`SQLiteConnection.checkFileNotMoved()`), so that no write is acknowledged into a deleted file.
    nonisolated func performWrite<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T)
        async throws -> T
    {
        try await perform { connection in
            try connection.checkFileNotMoved()
            return try body(connection)
        }
    }

    /// Runs `body` with the connection on the worker's queue. Cancelling the calling task interrupts the
    /// statement that runs for it (`sqlite3_interrupt`), which then fails with `SQLITE_INTERRUPT`.
    nonisolated func perform<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws
        -> T
    {
        let id = interrupter.gate.register()
        return try await withTaskCancellationHandler {
            try await run(id, body)
        } onCancel: {
            interrupter.interrupt(id)
        }
    }
}
