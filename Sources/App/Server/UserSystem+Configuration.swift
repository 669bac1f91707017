public import UserAppCore
import ServiceSupport

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
    /// `users.directory.*`): with ``store``, ``publisher`` and ``storeOptions``, what
    /// `UserSystem.open(store:events:options:storeOptions:logger:)` takes.
    public var systemOptions: UserSystemOptions {
        .init(
            relay: relay, eventRetention: eventRetention, directoryConsistencyTimeout: directoryConsistencyTimeout)
    }
}
