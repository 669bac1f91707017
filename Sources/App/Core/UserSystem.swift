import Foundation
public import Logging
public import ServiceLifecycle
public import UserInMemory
public import UserPorts

/// The user domain wired over one store: the use cases, the outbox relay to a publisher, the directory's
/// projection and queries, and (with the `memory` publisher) a bus to subscribe to.
///
/// The embedding API for other Swift apps. Over a store of your own, typed all the way down:
///
/// ```swift
/// let system = try UserSystem(store: try await SQLiteUserStore.open(.init(path: "users.sqlite"), logger: logger),
///                             publisher: .memory, logger: logger)
/// ```
///
/// or by URL (``open(store:publisher:options:storeOptions:logger:)-(String,_,_,_,_)``; `UserApp` adds one from a
/// `ConfigReader`). Run
/// ``services`` in your `ServiceGroup` (the projection, the relay and the retention; the store last, so it
/// closes after them), or call ``close()`` when you don't.
public final class UserSystem<Store: UserStore>: Sendable {
    /// The use cases.
    public let users: UserService<Store>
    /// The store, for readiness checks and direct port access.
    public let store: Store
    /// The in-process event bus, when the publisher is `memory`.
    public let bus: InMemoryEventBus?
    /// The services to run, in start order: the store (when it is a `Service`, as the package's stores are:
    /// it closes when the group shuts down, after the others), the directory projection, the publisher (when
    /// it is a `Service`, as a broker's is), the outbox relay (unless the publisher is `none`) and the event
    /// log's retention (when configured). A `ServiceGroup` stops them in reverse.
    public let services: [any Service]
    /// The publisher the relay sends to (the bus, the event log, a broker), when one runs.
    public let publisher: (any MessagePublisher)?
    /// The outbox relay, when one runs.
    public let relay: OutboxRelay<Store>?
    /// The projection that keeps the directory read model.
    public let projection: DirectoryProjection<Store>
    /// The directory queries (the read side), consistent with a write when given its token.
    public let directory: DirectoryQueries<Store>
    private let closeStore: @Sendable () async -> Void

    /// What the system runs besides the use cases, and how.
    public typealias Options = UserSystemOptions

    /// Wires the system over a store that is open.
    ///
    /// - Parameters:
    ///   - store: the store, open.
    ///   - publisher: where the relay sends committed events; `.none` runs no relay.
    ///   - options: the relay's batching, the event retention, the directory's consistency wait.
    ///   - logger: the logger of the use cases and the services.
    ///   - close: what ``close()`` does to the store (nothing by default: you close the store you opened).
    /// - Throws: ``ConfigurationError`` for `users.publisher` when its event log can't be opened.
    public convenience init(
        store: Store, publisher: PublisherKind = .memory, options: Options = .init(), logger: Logger,
        close: @escaping @Sendable () async -> Void = {}
    ) throws {
        var bus: InMemoryEventBus?
        let relayed: (any MessagePublisher)?
        switch publisher {
        case .memory:
            let memoryBus = InMemoryEventBus()
            bus = memoryBus
            relayed = memoryBus
        case .log(let path):
            relayed = try JSONLinesPublisher(path: path)
        case .none:
            relayed = nil
        case .amqp:
            throw ConfigurationError(
                key: "users.publisher",
                "A broker publisher (users.publisher = amqp://…) is opened by UserApp's UserSystem.open, or pass a "
                    + "RabbitMQPublisher to UserSystem(store:publisher:).")
        }
        self.init(store: store, bus: bus, publisher: relayed, options: options, logger: logger, close: close)
    }

    /// Wires the system over a store that is open, relaying to a publisher of your own (a message broker, …).
    ///
    /// - Parameters:
    ///   - store: the store, open.
    ///   - publisher: where the relay sends committed events.
    ///   - options: the relay's batching, the event retention, the directory's consistency wait.
    ///   - logger: the logger of the use cases and the services.
    ///   - close: what ``close()`` does to the store (nothing by default).
    public convenience init(
        store: Store, publisher: some MessagePublisher, options: Options = .init(), logger: Logger,
        close: @escaping @Sendable () async -> Void = {}
    ) {
        self.init(store: store, bus: nil, publisher: publisher, options: options, logger: logger, close: close)
    }

    private init(
        store: Store, bus: InMemoryEventBus?, publisher: (any MessagePublisher)?, options: Options, logger: Logger,
        close: @escaping @Sendable () async -> Void
    ) {
        self.store = store
        self.bus = bus
        self.publisher = publisher
        users = UserService(repository: store, logger: logger)
        relay = publisher.map { OutboxRelay(outbox: store, publisher: $0, configuration: options.relay, logger: logger) }
        projection = DirectoryProjection(store: store, logger: logger)
        directory = DirectoryQueries(
            store: store, progress: projection.progress, timeout: options.directoryConsistencyTimeout)
        var services: [any Service] = []
        if let service = store as? any Service { services.append(service) }
        services.append(projection)
        // A publisher that is a Service (a broker's connection) runs before the relay, so it stops after it.
        if let service = publisher as? any Service { services.append(service) }
        if let relay { services.append(relay) }
        if let keep = options.eventRetention { services.append(EventRetention(store: store, keep: keep, logger: logger)) }
        self.services = services
        closeStore = close
    }

    /// Ends the bus's subscriptions and closes the store. Stop the services first.
    public func close() async {
        await bus?.finish()
        await closeStore()
    }
}

extension UserSystem where Store == AnyUserStore {
    /// Opens (and migrates) the store at a URL — `memory:`, `sqlite:PATH`, `postgres://…` — and wires the
    /// system over it; ``close()`` closes the store.
    ///
    /// - Throws: ``ConfigurationError`` for a store URL of no known kind or an event log that can't be opened;
    ///   the store's `UserStoreError` (an unreachable server, refused credentials, a damaged file, …).
    public static func open(
        store url: String, publisher: PublisherKind = .memory, options: Options = .init(),
        storeOptions: StoreOptions = .init(), logger: Logger
    ) async throws -> UserSystem<AnyUserStore> {
        try await open(
            store: StoreLocation(url), publisher: publisher, options: options, storeOptions: storeOptions,
            logger: logger)
    }

    /// Opens (and migrates) the store at a location and wires the system over it; ``close()`` closes the store.
    ///
    /// - Throws: ``ConfigurationError`` for an event log that can't be opened; the store's `UserStoreError`.
    public static func open(
        store location: StoreLocation, publisher: PublisherKind = .memory, options: Options = .init(),
        storeOptions: StoreOptions = .init(), logger: Logger
    ) async throws -> UserSystem<AnyUserStore> {
        let store = try await AnyUserStore.open(location, options: storeOptions, logger: logger)
        do {
            return try UserSystem(
                store: store, publisher: publisher, options: options, logger: logger, close: { await store.close() })
        } catch {
            await store.close()
            throw error
        }
    }
}

/// What the system runs besides the use cases, and how.
public struct UserSystemOptions: Sendable {
    /// The outbox relay's batching and backoff.
    public var relay: OutboxRelayConfiguration
    /// How long published events are kept; `nil` keeps them forever (a directory rebuild needs the whole
    /// log).
    public var eventRetention: Duration?
    /// How long a directory query waits for the read model to reach its consistency token.
    public var directoryConsistencyTimeout: Duration

    /// The defaults: the relay's defaults, events kept forever, directory queries wait up to 5 s.
    public init(
        relay: OutboxRelayConfiguration = .init(), eventRetention: Duration? = nil,
        directoryConsistencyTimeout: Duration = .seconds(5)
    ) {
        self.relay = relay
        self.eventRetention = eventRetention
        self.directoryConsistencyTimeout = directoryConsistencyTimeout
    }
}

/// Deletes published events older than the retention period, once an hour (and at start).
struct EventRetention<Store: EventHistory>: Service {
    let store: Store
    let keep: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let seconds = Double(keep.components.seconds)
                let deleted = try await store.deletePublishedEvents(before: Date().addingTimeInterval(-seconds))
                if deleted > 0 { logger.info("event log trimmed", metadata: ["events.deleted": "\(deleted)"]) }
            } catch {
                logger.warning("trimming the event log failed", metadata: ["error": "\(error)"])
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}
