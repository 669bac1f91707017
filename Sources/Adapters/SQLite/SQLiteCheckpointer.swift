import CSQLite
import Dispatch
import Logging
import UserPorts

/// Copies the write-ahead log back into the database on a connection of its own, so that a commit does
/// not wait for it.
///
/// By default SQLite checkpoints inside the commit that takes the log past 1,000 pages: that commit copies
/// the log into the database and syncs both files (measured in the users-v1 insert phase: 111–123 µs per
/// insert inside the writer with automatic checkpoints, 67–74 µs without). Here the writer's
/// automatic checkpoint is replaced by a WAL hook that, past ``threshold`` pages, asks this checkpointer to
/// run a passive checkpoint on its own serial queue (a thread of its own, never the cooperative pool), which
/// neither waits for nor blocks the writer or the readers; the log restarts from its beginning at the next
/// commit after a checkpoint that copied it whole. The hook hands the request straight to that queue (no
/// task): requests that arrive while one is queued are one request.
///
/// A writer that outruns the checkpointer would let the log grow without end; past ``limit`` pages the
/// committing writer checkpoints itself, as SQLite would have done, which bounds the log near
/// `limit` × the page size (16 MiB with 4 KiB pages).
///
/// ``close()`` waits for a checkpoint that runs, then closes the connection; a request after it does nothing.
final class SQLiteCheckpointer: @unchecked Sendable {
    // @unchecked Sendable is sound: `connection`, the one mutable stored property that is not Sendable, is
    // read and written only by blocks running on `queue` (opening, each checkpoint, closing, `perform`), and
    // a serial dispatch queue runs its blocks one at a time, each seeing the writes of the ones before it.
    // Everything else is immutable or a `Locked`.

    /// Pages in the log that start a background checkpoint: SQLite's own automatic checkpoint size.
    static let threshold: Int32 = 1000
    /// Pages in the log past which the writer checkpoints within its commit.
    static let limit: Int32 = 4000

    private struct State {
        /// A checkpoint is queued and has not begun: further requests are the same request.
        var queued = false
        var closed = false
    }

    private let queue = DispatchQueue(label: "user-sqlite.checkpointer", qos: .utility)
    private let state = Locked(State())
    private let logger: Logger
    /// Only on `queue`.
    private var connection: SQLiteConnection?

    private init(logger: Logger) {
        self.logger = logger
    }

    /// Opens the checkpointer's connection to the database at `path` on its queue, set up by `setUp`.
    static func open(
        path: String, logger: Logger, setUp: @escaping @Sendable (SQLiteConnection) throws -> Void
    ) async throws -> SQLiteCheckpointer {
        let checkpointer = SQLiteCheckpointer(logger: logger)
        try await checkpointer.onQueue { checkpointer in
            let connection = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE)
            try setUp(connection)
            checkpointer.connection = connection
        }
        return checkpointer
    }

    /// Replaces `writer`'s automatic checkpoints with this checkpointer; the connection keeps it alive.
    func install(on writer: SQLiteConnection) {
        writer.walHookOwner = self
        sqlite3_wal_hook(
            writer.handle,
            { context, database, _, pages in
                guard let context else { return SQLITE_OK }
                Unmanaged<SQLiteCheckpointer>.fromOpaque(context).takeUnretainedValue().committed(
                    pages: pages, database: database)
                return SQLITE_OK
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Called by SQLite on the writer's thread after each commit, with the pages now in the log.
    private func committed(pages: Int32, database: OpaquePointer?) {
        if pages >= Self.limit {
            // The background checkpoint fell behind: copy the log now, as SQLite's automatic checkpoint does.
            // A checkpoint already running elsewhere makes this one return SQLITE_BUSY at once; that is fine.
            sqlite3_wal_checkpoint_v2(database, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            return
        }
        guard pages >= Self.threshold else { return }
        let start = state.withLock { state in
            guard !state.queued, !state.closed else { return false }
            state.queued = true
            return true
        }
        guard start else { return }
        queue.async { self.checkpoint() }
    }

    /// One passive checkpoint, on the queue.
    private func checkpoint() {
        // From here on a commit asks for the next one: the log may grow while this one copies.
        state.withLock { $0.queued = false }
        guard let connection else { return }  // closed meanwhile; closing the last connection checkpoints
        let code = sqlite3_wal_checkpoint_v2(connection.handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        // BUSY: another connection (another process's writer) is checkpointing.
        if code != SQLITE_OK && code != SQLITE_BUSY {
            logger.warning(
                "sqlite checkpoint failed", metadata: ["error": "\(SQLiteError(code: code, handle: connection.handle))"])
        }
    }

    /// Waits for a checkpoint that runs (the queue is serial), then closes the connection; a checkpoint
    /// asked for afterwards does nothing. Idempotent.
    func close() async {
        state.withLock { $0.closed = true }
        try? await onQueue { checkpointer in checkpointer.connection = nil }
    }

    /// Runs `body` with the connection on the checkpointer's queue (for tests that hold the queue).
    func perform<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await onQueue { checkpointer in
            guard let connection = checkpointer.connection else {
                throw UserStoreError(.closed, "The SQLite store is closed.")
            }
            return try body(connection)
        }
    }

    /// Runs `body` on the queue and resumes the caller with its outcome: no thread waits meanwhile.
    private func onQueue<T: Sendable>(_ body: @escaping @Sendable (SQLiteCheckpointer) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body(self) })
            }
        }
    }
}
