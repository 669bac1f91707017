public import Logging
public import UserAppCore

extension UserAppConfiguration {
    /// The store's options from this configuration (`users.sqlite.*`, `users.postgres.*`); an unset
    /// `users.sqlite.tuneProcess` is "no".
    public var storeOptions: StoreOptions {
        var options = StoreOptions()
        options.sqliteSynchronousFull = sqliteSynchronousFull
        options.sqliteTunesProcess = sqliteTunesProcess ?? false
        options.postgresMaximumConnections = postgresMaximumConnections
        options.postgresLookupConnections = postgresLookupConnections
        return options
    }

    /// The system's options from this configuration (`users.relay.*`, `users.events.retentionDays`,
    /// `users.directory.*`).
    public var systemOptions: UserSystemOptions {
        .init(
            relay: relay, eventRetention: eventRetention, directoryConsistencyTimeout: directoryConsistencyTimeout)
    }
}

extension UserSystem where Store == AnyUserStore {
    /// Opens the configured store (migrating it) and wires the use cases, the projection and the relay.
    ///
    /// ```swift
    /// let reader = try await UserAppConfiguration.reader(arguments: [:])
    /// let system = try await UserSystem.open(try UserAppConfiguration(reader: reader), logger: logger)
    /// ```
    ///
    /// - Throws: the store's `UserStoreError` (an unreachable server, a damaged file, …);
    ///   `ConfigurationError` for `users.publisher` when its event log can't be opened.
    public static func open(_ configuration: UserAppConfiguration, logger: Logger) async throws
        -> UserSystem<AnyUserStore>
    {
        try await open(
            store: configuration.store, publisher: configuration.publisher, options: configuration.systemOptions,
            storeOptions: configuration.storeOptions, logger: logger)
    }
}
