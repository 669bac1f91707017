public import Logging
public import UserAppCore
import UserRabbitMQ

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

extension UserSystem {
    /// Wires the system over an open store with the configured publisher, a RabbitMQ broker included
    /// (`users.publisher = amqp://…`: a `RabbitMQPublisher` that runs among `UserSystem.services` before the
    /// relay).
    ///
    /// - Throws: `ConfigurationError` for `users.publisher` when its event log can't be opened or its broker URL
    ///   is malformed (the message shows it redacted).
    public convenience init(
        store: Store, configuration: UserAppConfiguration, logger: Logger,
        close: @escaping @Sendable () async -> Void = {}
    ) throws {
        guard case .amqp(let url) = configuration.publisher else {
            try self.init(
                store: store, publisher: configuration.publisher, options: configuration.systemOptions, logger: logger,
                close: close)
            return
        }
        let broker: RabbitMQPublisher.Configuration
        do {
            broker = try .init(url: url, exchange: configuration.amqpExchange)
        } catch {
            throw ConfigurationError(key: "users.publisher", "users.publisher: \(error)")
        }
        self.init(
            store: store, publisher: RabbitMQPublisher(configuration: broker, logger: logger),
            options: configuration.systemOptions, logger: logger, close: close)
    }
}

extension UserSystem where Store == AnyUserStore {
    /// Opens the configured store (migrating it) and wires the use cases, the projection, the publisher and the
    /// relay.
    ///
    /// ```swift
    /// let reader = try await UserAppConfiguration.reader(arguments: [:])
    /// let system = try await UserSystem.open(try UserAppConfiguration(reader: reader), logger: logger)
    /// ```
    ///
    /// - Throws: the store's `UserStoreError` (an unreachable server, a damaged file, …);
    ///   `ConfigurationError` for `users.publisher` when its event log can't be opened or its broker URL is
    ///   malformed.
    public static func open(_ configuration: UserAppConfiguration, logger: Logger) async throws
        -> UserSystem<AnyUserStore>
    {
        let store = try await AnyUserStore.open(
            configuration.store, options: configuration.storeOptions, logger: logger)
        do {
            return try UserSystem(
                store: store, configuration: configuration, logger: logger, close: { await store.close() })
        } catch {
            await store.close()
            throw error
        }
    }
}
