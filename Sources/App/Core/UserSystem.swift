import Foundation
public import Logging
#if RabbitMQ
import UserRabbitMQ
#endif
public import ServiceLifecycle
public import UserInMemory
public import UserPorts

/// The user domain wired over one store: the use cases, the outbox relay to where events go, the directory's
/// projection and queries, and (with ``EventDestination/memory``) a bus to subscribe to.
///
/// The one way to wire the package into an app. Two ways in, one for each need:
///
/// - a store chosen by configuration (a URL: `memory:`, `sqlite:PATH`, `postgres://…`):
///   ``open(store:events:options:storeOptions:logger:)``, a `UserSystem<AnyUserStore>`; ``close()`` closes
///   the store it opened;
/// - a store you hold (your own adapter, or a package store kept in its own type):
///   ``init(store:events:options:logger:)``; you close the store.
///
/// Then run ``services`` in your `ServiceGroup` (the store first, so it closes after the others; the
/// projection, the publisher, the relay, the retention), with `gracefulShutdownSignals` so that SIGTERM lets
/// the relay give its lease back; or, in a short-lived process, call ``relay``'s `publishPendingEvents()` and
/// ``close()``.
public final class UserSystem<Store: UserStore>: Sendable {
    /// The use cases.
    public let users: UserUseCases<Store>
    /// The store, for readiness checks and direct port access.
    public let store: Store
    /// The in-process event bus, when events go to ``EventDestination/memory``.
    public let bus: InMemoryEventBus?
    /// The services to run, in start order: the store (when it is a `Service`, as the package's stores are:
    /// it closes when the group shuts down, after the others), the directory projection (unless
    /// ``UserSystemOptions/directory`` is off), the publisher (when it is a `Service`, as a broker's is), the
    /// outbox relay (unless events go nowhere) and the event log's retention (when configured). A
    /// `ServiceGroup` stops them in reverse.
    public let services: [any Service]
    /// The publisher the relay sends to (the bus, the event log, a broker, yours), when one runs.
    public let publisher: (any MessagePublisher)?
    /// The outbox relay, when one runs.
    public let relay: OutboxRelay<Store>?
    /// The projection that keeps the directory read model from the store's event history; `nil` when
    /// ``UserSystemOptions/directory`` is off.
    public let projection: DirectoryProjection<Store>?
    /// The directory queries (the read side), consistent with a write when given its token; `nil` when
    /// ``UserSystemOptions/directory`` is off.
    public let directory: DirectoryQueries?
    private let closeStore: @Sendable () async -> Void

    /// What the system runs besides the use cases, and how.
    public typealias Options = UserSystemOptions

    /// Wires the system over a store you hold, open; ``close()`` leaves the store open (you close it).
    ///
    /// ```swift
    /// let system = try UserSystem(store: InMemoryUserStore(), events: .memory, logger: logger)
    /// ```
    ///
    /// - Parameters:
    ///   - store: the store, open.
    ///   - events: where the relay sends committed events; ``EventDestination/none`` runs no relay.
    ///   - options: the directory, the relay's batching, the event retention, the clock and the identifiers.
    ///   - logger: the logger of the use cases and the services.
    /// - Throws: ``ConfigurationError`` for `users.publisher` when its event log can't be opened or its broker
    ///   URL is malformed.
    public convenience init(
        store: Store, events: EventDestination = .memory, options: Options = .init(), logger: Logger
    ) throws {
        try self.init(store: store, events: events, options: options, logger: logger, close: {})
    }

    init(
        store: Store, events: EventDestination, options: Options, logger: Logger,
        close: @escaping @Sendable () async -> Void
    ) throws {
        var bus: InMemoryEventBus?
        let publisher: (any MessagePublisher)?
        switch events {
        case .memory:
            let memoryBus = InMemoryEventBus()
            bus = memoryBus
            publisher = memoryBus
        case .log(let path):
            publisher = try JSONLinesPublisher(path: path)
        case .none:
            publisher = nil
        case .amqp(let url, let exchange):
            publisher = try Self.broker(url: url, exchange: exchange, logger: logger)
        case .publisher(let own):
            publisher = own
        }
        self.store = store
        self.bus = bus
        self.publisher = publisher
        users = UserUseCases(
            repository: store, clock: options.clock, identifiers: options.identifiers, logger: logger)
        relay = publisher.map { OutboxRelay(outbox: store, publisher: $0, configuration: options.relay, logger: logger) }
        var services: [any Service] = []
        if let service = store as? any Service { services.append(service) }
        if options.directory {
            let replica = directoryReplica(of: store)
            let projection = DirectoryProjection(history: store, replica: replica, logger: logger)
            self.projection = projection
            directory = DirectoryQueries(
                replica: replica, history: store, progress: projection.progress,
                timeout: options.directoryConsistencyTimeout)
            services.append(projection)
        } else {
            projection = nil
            directory = nil
        }
        // A publisher that is a Service (a broker's connection) runs before the relay, so it stops after it.
        if let service = publisher as? any Service { services.append(service) }
        if let relay { services.append(relay) }
        if let keep = options.eventRetention { services.append(EventRetention(store: store, keep: keep, logger: logger)) }
        self.services = services
        closeStore = close
    }

    private static func broker(url: String, exchange: String, logger: Logger) throws -> any MessagePublisher {
        #if RabbitMQ
        RabbitMQPublisher(
            configuration: try EventDestination.brokerConfiguration(url: url, exchange: exchange), logger: logger)
        #else
        throw EventDestination.brokerLeftOut
        #endif
    }

    /// Ends the bus's subscriptions and closes the store that ``open(store:events:options:storeOptions:logger:)``
    /// opened. Stop the services first.
    public func close() async {
        await bus?.finish()
        await closeStore()
    }
}

extension UserSystem where Store == AnyUserStore {
    /// Opens (and migrates) the store at a URL — `memory:`, `sqlite:PATH`, `postgres://…` — and wires the
    /// system over it; ``close()`` closes the store.
    ///
    /// - Parameters:
    ///   - url: the store's URL, from wherever the app keeps its settings.
    ///   - events: where the relay sends committed events.
    ///   - options: the directory, the relay's batching, the event retention, the clock and the identifiers.
    ///   - storeOptions: what the URL does not say (SQLite's durability, PostgreSQL's pool).
    ///   - logger: the logger of the use cases, the store and the services.
    /// - Throws: ``ConfigurationError`` for a store URL of no known kind (or of an adapter this build leaves
    ///   out) or a destination that can't be opened; the store's `UserStoreError` (an unreachable server,
    ///   refused credentials, a damaged file, …).
    public static func open(
        store url: String, events: EventDestination = .memory, options: Options = .init(),
        storeOptions: StoreOptions = .init(), logger: Logger
    ) async throws -> UserSystem<AnyUserStore> {
        try await open(
            store: StoreLocation(url), events: events, options: options, storeOptions: storeOptions, logger: logger)
    }

    /// Opens the store at a parsed location (what `UserApp`'s configuration holds) and wires the system.
    package static func open(
        store location: StoreLocation, events: EventDestination, options: Options, storeOptions: StoreOptions,
        logger: Logger
    ) async throws -> UserSystem<AnyUserStore> {
        let store = try await AnyUserStore.open(location, options: storeOptions, logger: logger)
        do {
            return try UserSystem(
                store: store, events: events, options: options, logger: logger, close: { await store.close() })
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
    /// Whether the system keeps the directory read model (its projection runs among the services and
    /// ``UserSystem/directory`` answers queries). The read model is the store's directory replica
    /// (`DirectoryHosting`: every store of the package keeps one in its database); a store of your own that
    /// keeps none gets one in memory, filled from the whole history at start. An app that only registers and
    /// changes users turns it off.
    public var directory: Bool
    /// How long a directory query waits for the read model to reach its consistency token.
    public var directoryConsistencyTimeout: Duration
    /// The source of timestamps (`ManualWallClock` of UserPortsTesting in a test that controls time).
    public var clock: any WallClock
    /// The source of new user and event ids.
    public var identifiers: any IdentifierGenerator

    /// The defaults: the relay's defaults, events kept forever, the directory kept and its queries waiting
    /// up to 5 s, the system clock, UUIDv7 ids.
    public init(
        relay: OutboxRelayConfiguration = .init(), eventRetention: Duration? = nil, directory: Bool = true,
        directoryConsistencyTimeout: Duration = .seconds(5), clock: any WallClock = SystemWallClock(),
        identifiers: any IdentifierGenerator = UUIDv7Generator.shared
    ) {
        self.relay = relay
        self.eventRetention = eventRetention
        self.directory = directory
        self.directoryConsistencyTimeout = directoryConsistencyTimeout
        self.clock = clock
        self.identifiers = identifiers
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

/// The directory replica of a store: its own (every store of the package keeps one in its database,
/// `DirectoryHosting`), else one in memory that the projection fills from the whole history at start.
func directoryReplica(of store: any UserStore) -> any DirectoryReplica {
    (store as? any DirectoryHosting)?.directoryReplica ?? InMemoryDirectoryReplica()
}
