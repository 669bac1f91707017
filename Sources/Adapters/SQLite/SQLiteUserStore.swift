import CSQLite
import Foundation
public import Logging
import UserDomain
import UserAdapterSupport
public import UserPorts

/// The user store over SQLite: the embedded default, one file, no server.
///
/// One writer connection and a pool of reader connections, in WAL mode so that readers never wait for the
/// writer. Every connection lives on its own serial queue (`SQLiteWorker`), never on Swift's cooperative
/// thread pool: a statement that waits on a lock or the disk blocks only its queue. Writes take the write
/// lock at once (`BEGIN IMMEDIATE`) and wait up to the busy timeout for other processes; a change and its
/// events commit in one transaction. Cancelling a task interrupts its running statement. The write-ahead log
/// is copied back into the database by a connection of its own, not by the commit that fills it (see
/// `SQLiteCheckpointer`): the log stays bounded, and a write does not pay for the copy.
///
/// Open it with ``open(_:logger:)``; close it with ``close()``, or run it as a `Service` of a `ServiceGroup`
/// (``run()``), which closes it when the group shuts down. Its connections, reader pool and checkpointer
/// are opened by ``open(_:logger:)``, not by ``run()``: a store works at once, with or without a group, so
/// a one-shot command or a test opens it, uses it and closes it.
public final class SQLiteUserStore: UserRepository, EventOutbox, DirectoryHosting {
    /// Raised after every commit of this store that appended events.
    public let commitSignal = CommitSignal()
    /// The configuration the store was opened with.
    public let configuration: Configuration

    let writer: SQLiteWorker
    let readers: [SQLiteWorker]
    let inlineReaders: SQLiteInlineReaders
    /// Copies the log back into the database off the commit path; nil in memory.
    let checkpointer: SQLiteCheckpointer?
    let nextReader = Locked(0)
    let logger: Logger
    /// Closes once; what ``run()`` waits on.
    let lifetime = ServiceLifetime()

    /// The directory read model in this store's file (`replica_users`), on the store's connections: what
    /// `UserSystem`'s projection keeps from this store's events. Closed with the store.
    public var directoryReplica: any DirectoryReplica { SQLiteDirectoryReplica(store: self) }

    private init(
        configuration: Configuration, writer: SQLiteWorker, readers: [SQLiteWorker],
        inlineReaders: SQLiteInlineReaders, checkpointer: SQLiteCheckpointer?, logger: Logger
    ) {
        self.configuration = configuration
        self.writer = writer
        self.readers = readers
        self.inlineReaders = inlineReaders
        self.checkpointer = checkpointer
        self.logger = logger
    }

    /// Opens (creating if needed) the database, applies missing migrations and opens the reader pool.
    ///
    /// A missing file is created, with its folder.
    ///
    /// - Throws: `UserStoreError`, naming the path: `.corrupt` for a file that is not a SQLite database
    ///   (empty, text, truncated), `.invalidConfiguration` for a directory in place of the file,
    ///   `.accessDenied` for a location that can't be written, `.unavailable` for a database locked by
    ///   another connection past the busy timeout, `.incompatibleSchema` for a newer schema.
    public static func open(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "user-sqlite", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> SQLiteUserStore {
        let path = configuration.path
        let inMemory = configuration.isInMemory
        let writer = SQLiteWorker(label: "user-sqlite.writer")
        var readers: [SQLiteWorker] = []
        // Empty for an in-memory database: every read is served by the writer.
        var inlineReaders = SQLiteInlineReaders()
        var checkpointer: SQLiteCheckpointer?
        do {
            let setUp: @Sendable (SQLiteConnection) throws -> Void = { connection in
                try configure(connection, configuration: configuration, readOnly: false)
                if !inMemory {
                    let mode = try connection.scalarText("PRAGMA journal_mode = WAL")
                    guard mode?.lowercased() == "wal" else {
                        throw UserStoreError(.internal, "The database \(path) could not be switched to WAL mode.")
                    }
                }
                try SQLiteSchema.migrate(connection, path: path)
            }
            try await writer.open(
                {
                    if !inMemory { try SQLiteFileCheck.prepare(path: path, initialize: setUp) }
                    // Only the file created above, or one that already existed, is opened: never created here.
                    return try SQLiteConnection(
                        path: path,
                        flags: inMemory ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE)
                }, setUp: setUp)
            // An in-memory database exists once per connection: it is served by the writer alone.
            if !inMemory {
                for index in 0..<max(1, configuration.readerCount) {
                    let reader = SQLiteWorker(label: "user-sqlite.reader\(index)")
                    readers.append(reader)
                    try await reader.open {
                        try SQLiteConnection(path: path, flags: SQLITE_OPEN_READONLY)
                    } setUp: { connection in
                        try configure(connection, configuration: configuration, readOnly: true)
                    }
                }
                // The connections of inline reads, opened on the writer's queue (opening reads the file).
                inlineReaders = try await writer.perform { _ in
                    try SQLiteInlineReaders(path: path, count: max(2, configuration.readerCount)) { connection in
                        try configure(connection, configuration: configuration, readOnly: true)
                    }
                }
                // Checkpoints off the commit path (see ``SQLiteCheckpointer``); an in-memory database has no log.
                let opened = try await SQLiteCheckpointer.open(path: path, logger: logger) { connection in
                    try configure(connection, configuration: configuration, readOnly: false)
                }
                checkpointer = opened
                try await writer.perform { connection in opened.install(on: connection) }
            }
        } catch {
            // Whatever was opened, closed as ``close()`` does (closing a worker that never opened is harmless).
            await close(writer: writer, readers: readers, inlineReaders: inlineReaders, checkpointer: checkpointer)
            throw mapError(error, path: path, opening: true)
        }
        logger.debug(
            "sqlite store opened",
            metadata: ["path": "\(path)", "readers": "\(readers.count)", "synchronous": "\(configuration.synchronous)"])
        return SQLiteUserStore(
            configuration: configuration, writer: writer, readers: readers, inlineReaders: inlineReaders,
            checkpointer: checkpointer, logger: logger)
    }

    /// Closes every connection, after the statements that run and the checkpoint that runs have finished.
    /// Operations started afterwards throw `UserStoreError` with code `closed`.
    ///
    /// Idempotent: a second call returns once the first has finished; safe to call while ``run()`` ends.
    public func close() async {
        await lifetime.close {
            await Self.close(
                writer: writer, readers: readers, inlineReaders: inlineReaders, checkpointer: checkpointer)
        }
    }

    static func close(
        writer: SQLiteWorker, readers: [SQLiteWorker], inlineReaders: SQLiteInlineReaders,
        checkpointer: SQLiteCheckpointer?
    ) async {
        inlineReaders.close()
        for reader in readers { await reader.close() }
        await writer.close()
        await checkpointer?.close()
    }

    static func configure(_ connection: SQLiteConnection, configuration: Configuration, readOnly: Bool) throws {
        let milliseconds =
            configuration.busyTimeout.wholeMilliseconds
        sqlite3_busy_timeout(connection.handle, Int32(clamping: milliseconds))
        try connection.execute("PRAGMA foreign_keys = ON")
        if readOnly {
            try connection.execute("PRAGMA query_only = ON")
        } else {
            try connection.execute("PRAGMA synchronous = \(configuration.synchronous.rawValue.uppercased())")
        }
    }

    // MARK: Running statements

    /// Reads on a reader connection (the writer for an in-memory database), round robin.
    func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        let worker: SQLiteWorker
        if readers.isEmpty {
            worker = writer
        } else {
            let index = nextReader.withLock { next in
                defer { next = next &+ 1 }
                return next
            }
            worker = readers[index % readers.count]
        }
        return try await perform(on: worker, body)
    }

    /// A short read (a lookup, a bounded page) inline on the caller's thread with a borrowed connection
    /// (see ``SQLiteInlineReaders``), or on a reader worker when none is free or the database is busy.
    func shortRead<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        do {
            if let result = try inlineReaders.read(body) { return result }
        } catch {
            throw Self.mapError(error, path: configuration.path, opening: false)
        }
        return try await read(body)
    }

    /// Writes on the writer connection, refusing when the database file was removed or replaced meanwhile.
    func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        do {
            return try await writer.performWrite(body)
        } catch {
            throw Self.mapError(error, path: configuration.path, opening: false)
        }
    }

    func perform<T: Sendable>(
        on worker: SQLiteWorker, _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws -> T {
        do {
            return try await worker.perform(body)
        } catch {
            throw Self.mapError(error, path: configuration.path, opening: false)
        }
    }
}
