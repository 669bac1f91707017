import CSQLite
import Logging
import UserPorts

/// Copies the write-ahead log back into the database on a connection of its own, so that a commit does
/// not wait for it.
///
/// By default SQLite checkpoints inside the commit that takes the log past 1,000 pages: that commit copies
/// the log into the database and syncs both files (measured in the users-v1 insert phase: 111–123 µs per
/// insert inside the writer with automatic checkpoints, 67–74 µs without). Here the writer's
/// automatic checkpoint is replaced by a WAL hook that, past ``threshold`` pages, asks this checkpointer to
/// run a passive checkpoint on its own queue (a thread of its own, never the cooperative pool), which
/// neither waits for nor blocks the writer or the readers; the log restarts from its beginning at the next
/// commit after a checkpoint that copied it whole.
///
/// A writer that outruns the checkpointer would let the log grow without end; past ``limit`` pages the
/// committing writer checkpoints itself, as SQLite would have done, which bounds the log near
/// `limit` × the page size (16 MiB with 4 KiB pages).
final class SQLiteCheckpointer: Sendable {
    /// Pages in the log that start a background checkpoint: SQLite's own automatic checkpoint size.
    static let threshold: Int32 = 1000
    /// Pages in the log past which the writer checkpoints within its commit.
    static let limit: Int32 = 4000

    let worker: SQLiteWorker
    private let running = Locked(false)
    private let logger: Logger

    private init(worker: SQLiteWorker, logger: Logger) {
        self.worker = worker
        self.logger = logger
    }

    /// Opens the checkpointer's connection to the database at `path`, set up by `setUp`.
    static func open(
        path: String, logger: Logger, setUp: @escaping @Sendable (SQLiteConnection) throws -> Void
    ) async throws -> SQLiteCheckpointer {
        let worker = SQLiteWorker(label: "user-sqlite.checkpointer")
        do {
            try await worker.open({ try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE) }, setUp: setUp)
        } catch {
            await worker.close()
            throw error
        }
        return SQLiteCheckpointer(worker: worker, logger: logger)
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
        let start = running.withLock { running in
            defer { running = true }
            return !running
        }
        guard start else { return }
        Task.detached { [self] in
            defer { running.withLock { $0 = false } }
            do {
                try await worker.perform { connection in
                    let code = sqlite3_wal_checkpoint_v2(connection.handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
                    // BUSY: another connection (another process's writer) is checkpointing.
                    if code != SQLITE_OK && code != SQLITE_BUSY {
                        throw SQLiteError(code: code, handle: connection.handle)
                    }
                }
            } catch let error as UserStoreError where error.code == .closed {
                // The store closed meanwhile; closing the last connection checkpoints.
            } catch {
                logger.warning("sqlite checkpoint failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Closes the connection; a checkpoint asked for afterwards does nothing.
    func close() async {
        await worker.close()
    }
}
