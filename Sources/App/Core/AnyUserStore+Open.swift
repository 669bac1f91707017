package import Logging
import UserInMemory
#if PostgreSQL
import UserPostgres
#endif
#if SQLite
import UserSQLite
#endif

/// How a store opened by URL is set up: the knobs of the SQLite and PostgreSQL adapters that a URL does not
/// carry.
public struct StoreOptions: Sendable, Hashable {
    /// SQLite: every commit synced to disk (`synchronous=FULL`) instead of at checkpoints (`NORMAL`).
    public var sqliteSynchronousFull = false
    /// SQLite: tune SQLite for the whole process first (`SQLiteUserStore.configureProcess()`). A library never
    /// changes its host process unasked: `false` unless you ask.
    public var sqliteTunesProcess = false
    /// PostgreSQL: the pool's size.
    public var postgresMaximumConnections = 10
    /// PostgreSQL: connections for point lookups, in pipeline mode (0: lookups use the pool).
    public var postgresLookupConnections = 2

    /// The defaults: `synchronous=NORMAL`, SQLite's process settings untouched, 10 pooled PostgreSQL
    /// connections and 2 lookup connections.
    public init() {}
}

extension AnyUserStore {
    /// Opens (and migrates) the store at a location: what ``UserSystem/open(store:events:options:storeOptions:logger:)``
    /// does first.
    ///
    /// - Throws: ``ConfigurationError`` for a store of an adapter this build leaves out (a package trait off);
    ///   the store's `UserStoreError` (an unreachable server, refused credentials, a damaged file, …).
    package static func open(_ location: StoreLocation, options: StoreOptions = .init(), logger: Logger)
        async throws -> AnyUserStore
    {
        switch location {
        case .memory:
            let store = InMemoryUserStore()
            return AnyUserStore(store, close: { await store.close() })
        case .sqlite(let path):
            #if SQLite
            if options.sqliteTunesProcess, SQLiteUserStore.configureProcess() == .tooLate {
                logger.info("SQLite was in use before its process settings could apply: its defaults stay")
            }
            let store = try await SQLiteUserStore.open(
                .init(path: path, synchronous: options.sqliteSynchronousFull ? .full : .normal), logger: logger)
            return AnyUserStore(store, close: { await store.close() })
            #else
            throw StoreLocation.leftOut("SQLite")
            #endif
        case .postgres(let url):
            #if PostgreSQL
            let store = try await PostgresUserStore.open(
                .init(
                    url: url, maximumConnections: options.postgresMaximumConnections,
                    lookupConnections: options.postgresLookupConnections), logger: logger)
            return AnyUserStore(store, close: { await store.close() })
            #else
            throw StoreLocation.leftOut("PostgreSQL")
            #endif
        }
    }
}
