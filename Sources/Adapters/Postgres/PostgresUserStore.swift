import CLibPQ
import Foundation
public import Logging
import UserDomain
import UserAdapterSupport
public import UserPorts

/// The user store over PostgreSQL (libpq): several app instances can share one database.
///
/// A bounded pool of connections, each on its own serial queue so that blocking libpq calls never run on
/// Swift's cooperative thread pool; statements are prepared once per connection and parameters are always
/// bound. Point lookups by id or e-mail run on connections of their own (``Configuration/lookupConnections``),
/// in pipeline mode, whose threads batch the lookups of concurrent callers into shared round trips. A change
/// and its events commit in one statement, which also sends `NOTIFY user_events`; a dedicated LISTEN
/// connection raises ``commitSignal`` for commits of every process. Uniqueness violations
/// (SQLSTATE 23505) become `UserError.emailTaken`; a lost connection becomes `UserStoreError` code
/// `unavailable`, and the pool reconnects (with backoff) once the server is back. Cancelling a task cancels
/// its running query.
///
/// Open it with ``open(_:logger:)``; close it with ``close()``, or run it as a `Service` of a `ServiceGroup`
/// (``run()``), which closes it when the group shuts down. The pool, the lookup pipelines' threads and the
/// LISTEN thread are started by ``open(_:logger:)``, not by ``run()``: a store works at once, with or
/// without a group, so a one-shot command or a test opens it, uses it and closes it. Nothing is started by
/// an initialiser, and everything is gone when ``close()`` (or ``run()``) returns.
public final class PostgresUserStore: UserRepository, EventOutbox, DirectoryHosting {
    /// Raised when this or another process commits events (through LISTEN/NOTIFY).
    public let commitSignal: CommitSignal
    /// The URL with its password replaced by `***`: safe to log.
    public let redactedURL: String

    let url: PostgresURL
    let pool: PostgresPool
    let lookups: [PostgresLookupPipeline<User>]
    let listener: PostgresListener?
    let logger: Logger
    /// Closes once; what ``run()`` waits on.
    let lifetime = ServiceLifetime()

    /// The directory read model in this store's database (`replica_users`), on the store's pool: what
    /// `UserSystem`'s projection keeps from this store's events. Any number of processes may project into it.
    /// Closed with the store.
    public var directoryReplica: any DirectoryReplica { PostgresDirectoryReplica(pool: pool, url: url, owned: false) }

    private init(
        url: PostgresURL, pool: PostgresPool, lookupConnections: Int, listener: PostgresListener?,
        signal: CommitSignal, logger: Logger
    ) {
        self.commitSignal = signal
        self.url = url
        self.redactedURL = url.redacted
        self.pool = pool
        self.lookups = (0..<max(0, lookupConnections)).map { _ in
            PostgresLookupPipeline(
                url: url, statements: [Self.selectByID, Self.selectByEmail], logger: logger, decode: Self.optionalUser)
        }
        self.listener = listener
        self.logger = logger
    }

    /// Connects, applies missing migrations (under an advisory lock) and starts the LISTEN connection.
    ///
    /// - Throws: `UserStoreError` with the password redacted: `.invalidConfiguration` for a malformed URL
    ///   or a database that does not exist, `.accessDenied` for refused credentials, `.unavailable` for a
    ///   server that can't be reached or a host that can't be resolved, `.incompatibleSchema` for a newer
    ///   schema.
    public static func open(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "user-postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> PostgresUserStore {
        let url = try PostgresURL(configuration.url, connectTimeout: configuration.connectTimeout)
        let pool = PostgresPool(
            url: url,
            settings: .init(
                minimumConnections: max(0, configuration.minimumConnections),
                maximumConnections: max(1, configuration.maximumConnections),
                acquireTimeout: configuration.acquireTimeout,
                maximumIdleTime: configuration.maximumIdleTime),
            logger: logger)
        let redacted = url.redacted
        do {
            try await withConnection(pool: pool, url: url) { connection in
                // A directory database's ledger: the directory service's (PostgresDirectoryReplica) own database.
                if try connection.query("SELECT to_regclass('replica_schema_migrations') IS NOT NULL").string(0, 0)
                    == "t"
                {
                    throw UserStoreError(
                        .invalidConfiguration,
                        "The database of \(redacted) holds a directory replica; a user store needs a database (or "
                            + "schema) of its own.")
                }
                try PostgresSchema.migrate(connection, redactedURL: redacted)
            }
        } catch {
            await pool.close()
            throw error
        }
        let signal = CommitSignal()
        let listener: PostgresListener?
        do {
            listener =
                configuration.listensForCommits ? try PostgresListener(url: url, signal: signal, logger: logger) : nil
        } catch {
            await pool.close()
            throw error
        }
        let store = PostgresUserStore(
            url: url, pool: pool, lookupConnections: configuration.lookupConnections, listener: listener,
            signal: signal, logger: logger)
        for pipeline in store.lookups { pipeline.start() }
        listener?.start()
        logger.debug("postgres store opened", metadata: ["url": "\(redacted)"])
        return store
    }

    /// Stops listening and closes every connection: returns once the LISTEN and lookup threads have ended
    /// and the pool's connections are closed (busy ones when their operation ends). Operations afterwards
    /// throw `UserStoreError` code `closed`.
    ///
    /// Idempotent: a second call returns once the first has finished; safe to call while ``run()`` ends.
    public func close() async {
        await lifetime.close {
            await listener?.stop()
            for pipeline in lookups { await pipeline.close() }
            await pool.close()
        }
    }

    // MARK: Running statements

    /// Runs `body` on a pooled connection (internal, not private: the tests hold connections with it).
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws
        -> T
    {
        try await Self.withConnection(pool: pool, url: url, body)
    }

    /// Runs `body` on a pooled connection, returns the connection, and maps errors at the boundary.
    static func withConnection<T: Sendable>(
        pool: PostgresPool, url: PostgresURL, retryingLostConnection: Bool = false,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        let worker = try await pool.acquire()
        do {
            let result = try await worker.perform(body)
            await pool.release(worker)
            return result
        } catch let error as PostgresError where error.connectionLost {
            await pool.release(worker)
            await pool.invalidateIdle()
            guard retryingLostConnection else { throw PostgresErrors.map(error, url: url, connecting: false) }
            // Once, on a fresh connection: only the lost connection is retried, never a pool timeout or a
            // failed connect, which would double the wait a caller was promised.
            return try await withConnection(pool: pool, url: url, body)
        } catch {
            await pool.release(worker)
            throw PostgresErrors.map(error, url: url, connecting: false)
        }
    }

    /// A read, retried once on a fresh connection when the one it got had lost its server (a read can't
    /// have changed anything).
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await Self.withConnection(pool: pool, url: url, retryingLostConnection: true, body)
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws
        -> T
    {
        try await Self.transaction(pool: pool, url: url, body)
    }

    /// Runs `body` in a transaction on a connection of `pool` (the store's, a replica's).
    static func transaction<T: Sendable>(
        pool: PostgresPool, url: PostgresURL, _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await withConnection(pool: pool, url: url) { connection in
            try connection.execute("BEGIN")
            do {
                let result = try body(connection)
                try connection.execute("COMMIT")
                return result
            } catch {
                if PQtransactionStatus(connection.handle) != PQTRANS_IDLE { _ = try? connection.execute("ROLLBACK") }
                throw error
            }
        }
    }
}

extension PostgresUserStore {
    /// Pooled connections handed out and not given back: for tests that must know a connection is held.
    var connectionsInUse: Int {
        get async { await pool.inUse }
    }
}

extension PostgresUserStore {
    /// Runs one statement on a connection of its own, off the cooperative pool: for test set-up in this
    /// package (creating and dropping a schema per test).
    package static func execute(url: String, _ sql: String) async throws {
        let url = try PostgresURL(url, connectTimeout: .seconds(5))
        let worker = PostgresWorker()
        do {
            try await worker.connect(url.conninfo)
            _ = try await worker.perform { connection in _ = try connection.execute(sql) }
            await worker.close()
        } catch {
            await worker.close()
            throw PostgresErrors.map(error, url: url, connecting: false)
        }
    }
}
