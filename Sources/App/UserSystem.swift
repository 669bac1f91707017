import Foundation
public import Logging
public import ServiceLifecycle
public import UserInMemory
public import UserPorts
import UserPostgres
import UserSQLite

/// The user domain wired from configuration: the use cases over the configured store, the outbox relay to
/// the configured publisher, and (with the `memory` publisher) a bus to subscribe to.
///
/// The embedding API for other Swift apps:
///
/// ```swift
/// let system = try await UserSystem.open(UserAppConfiguration(reader: config), logger: logger)
/// let events = await system.bus?.subscribe()
/// let ada = try await system.users.register(email: "ada@example.com", displayName: "Ada")
/// // run `system.services` in your ServiceGroup (the relay), and on shutdown:
/// await system.close()
/// ```
public final class UserSystem: Sendable {
    /// The use cases.
    public let users: UserService<AnyUserStore>
    /// The store, for readiness checks and direct port access.
    public let store: AnyUserStore
    /// The in-process event bus, when the publisher is `memory`.
    public let bus: InMemoryEventBus?
    /// The services to run: the directory projection, the outbox relay (unless the publisher is `none`) and
    /// the event log's retention (when configured).
    public let services: [any Service]
    /// The outbox relay, when one runs.
    public let relay: OutboxRelay<AnyUserStore, AnyPublisher>?
    /// The projection that keeps the directory read model.
    public let projection: DirectoryProjection<AnyUserStore>
    /// The directory queries (the read side), consistent with a write when given its token.
    public let directory: DirectoryQueries<AnyUserStore>
    private let closeStore: @Sendable () async -> Void

    private init(
        users: UserService<AnyUserStore>, store: AnyUserStore, bus: InMemoryEventBus?,
        relay: OutboxRelay<AnyUserStore, AnyPublisher>?, projection: DirectoryProjection<AnyUserStore>,
        directory: DirectoryQueries<AnyUserStore>, retention: EventRetention?,
        closeStore: @escaping @Sendable () async -> Void
    ) {
        self.users = users
        self.store = store
        self.bus = bus
        self.relay = relay
        self.projection = projection
        self.directory = directory
        var services: [any Service] = [projection]
        if let relay { services.append(relay) }
        if let retention { services.append(retention) }
        self.services = services
        self.closeStore = closeStore
    }

    /// Opens the configured store (migrating it) and wires the use cases and the relay.
    ///
    /// - Throws: the store's `UserStoreError` (a bad URL, an unreachable server, a damaged file, …);
    ///   ``ConfigurationError`` for `users.publisher` when its event log can't be opened.
    public static func open(_ configuration: UserAppConfiguration, logger: Logger) async throws -> UserSystem {
        let (store, close) = try await openStore(configuration, logger: logger)
        let users = UserService(repository: store, logger: logger)
        var bus: InMemoryEventBus?
        let publisher: AnyPublisher?
        switch configuration.publisher {
        case .memory:
            let memoryBus = InMemoryEventBus()
            bus = memoryBus
            publisher = AnyPublisher(memoryBus)
        case .log(let path):
            do {
                publisher = AnyPublisher(try JSONLinesPublisher(path: path))
            } catch {
                await close()
                throw error
            }
        case .none:
            publisher = nil
        }
        let relay = publisher.map {
            OutboxRelay(outbox: store, publisher: $0, configuration: configuration.relay, logger: logger)
        }
        let projection = DirectoryProjection(store: store, logger: logger)
        let directory = DirectoryQueries(
            store: store, progress: projection.progress, timeout: configuration.directoryConsistencyTimeout)
        let retention = configuration.eventRetention.map { EventRetention(store: store, keep: $0, logger: logger) }
        return UserSystem(
            users: users, store: store, bus: bus, relay: relay, projection: projection, directory: directory,
            retention: retention, closeStore: close)
    }

    /// Closes the store (and ends the bus's subscriptions). Stop the services first.
    public func close() async {
        await bus?.finish()
        await closeStore()
    }

    private static func openStore(_ configuration: UserAppConfiguration, logger: Logger) async throws -> (
        AnyUserStore, @Sendable () async -> Void
    ) {
        switch configuration.store {
        case .memory:
            return (AnyUserStore(InMemoryUserStore()), {})
        case .sqlite(let path):
            if configuration.sqliteTunesProcess == true, SQLiteUserStore.configureProcess() == .tooLate {
                logger.info("SQLite was in use before users.sqlite.tuneProcess could apply: its defaults stay")
            }
            let store = try await SQLiteUserStore.open(
                .init(path: path, synchronous: configuration.sqliteSynchronousFull ? .full : .normal), logger: logger)
            return (AnyUserStore(store), { await store.close() })
        case .postgres(let url):
            let store = try await PostgresUserStore.open(
                .init(
                    url: url, maximumConnections: configuration.postgresMaximumConnections,
                    lookupConnections: configuration.postgresLookupConnections), logger: logger)
            return (AnyUserStore(store), { await store.close() })
        }
    }
}

/// Deletes published events older than the retention period, once an hour (and at start).
struct EventRetention: Service {
    let store: AnyUserStore
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
