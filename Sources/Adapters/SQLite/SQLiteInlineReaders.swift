import CSQLite
import UserPorts

/// Read-only connections that short reads borrow and use inline, on the caller's thread: a point lookup
/// or a bounded page costs a few microseconds of SQLite work, less than a hop to a worker's queue and back.
///
/// This is the exception DESIGN.md allows for "a short SQLite read of a connection held exclusively", and
/// it never waits: the connections have no busy timeout (in WAL mode a reader does not wait for the writer;
/// the rare `SQLITE_BUSY` of a WAL recovery makes the caller fall back to a worker, which may wait), and when
/// every connection is lent out the caller falls back to a worker too. Inline reads are short, so they are
/// not interrupted on cancellation: they finish.
final class SQLiteInlineReaders: Sendable {
    /// A connection in the idle stack.
    ///
    /// `@unchecked Sendable`: the connection is used by one caller at a time. It is in the stack (guarded
    /// by the lock) or held by exactly the caller that popped it under that lock, until it pushes it back;
    /// nothing else keeps a reference to it.
    private final class Lent: @unchecked Sendable {
        let connection: SQLiteConnection
        init(_ connection: SQLiteConnection) { self.connection = connection }
    }

    private struct State {
        var idle: [Lent] = []
        var closed = false
    }

    private let state = Locked(State())

    /// Opens `count` read-only connections (on the caller's thread: call it from a worker, at open).
    init(path: String, count: Int, setUp: (SQLiteConnection) throws -> Void) throws {
        var connections: [Lent] = []
        for _ in 0..<count {
            let connection = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READONLY)
            try setUp(connection)
            sqlite3_busy_timeout(connection.handle, 0)
            connections.append(Lent(connection))
        }
        state.withLock { $0.idle = connections }
    }

    /// An empty pool: every read falls back to a worker (an in-memory database has a single connection).
    init() {}

    /// Runs `body` inline with a borrowed connection.
    ///
    /// - Returns: `nil` when no connection is free or the database was busy: the caller reads on a worker.
    func read<T>(_ body: (SQLiteConnection) throws -> T) throws -> T? {
        guard let lent = state.withLock({ $0.closed ? nil : $0.idle.popLast() }) else { return nil }
        defer {
            state.withLock { state in
                if !state.closed { state.idle.append(lent) }
            }
        }
        do {
            return try body(lent.connection)
        } catch let error as SQLiteError where error.primaryCode == SQLITE_BUSY || error.primaryCode == SQLITE_LOCKED {
            return nil
        }
    }

    /// Closes the idle connections; those lent out are closed when they come back.
    func close() {
        state.withLock { state in
            state.closed = true
            state.idle = []
        }
    }
}
