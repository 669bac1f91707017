import Foundation
public import Logging
public import ServiceLifecycle
import ServiceLifecycleTestKit
import UserDomain
public import UserPorts

// The end of a store's life: close(), and run() as a Service of a group.
extension UserStoreContract {
    /// Checks that a store, once closed, refuses every operation of every port with `UserStoreError` code
    /// `closed`, and that closing is idempotent and safe from several tasks at once.
    ///
    /// Give it a fresh, open store and the way to close it (`{ await store.close() }`); it writes a user,
    /// closes the store (twice at once, then once more) and tries every operation.
    ///
    /// - Throws: ``ContractViolation`` naming the first operation that did not throw `closed`.
    public static func checkRefusesOperationsAfterClose(
        _ store: any UserStore, close: @escaping @Sendable () async -> Void
    ) async throws {
        let expect = Expectations(check: "a closed store refuses every operation with UserStoreError.closed")
        let fixture = Fixture(repository: store, store: store, expect: expect)
        let user = try await fixture.register(email: Fixture.uniqueEmail("closing"))
        let event = try expect.unwrap(try await store.unpublishedEvents(limit: 10).first, "the registration's event")
        let position = event.position
        async let first: Void = close()
        async let second: Void = close()
        _ = await (first, second)
        await close()

        let change = try fixture.registration()
        let rename = try user.renamed(to: DisplayName("Renamed"), at: fixture.now(), eventID: UUID())
        var operations: [(String, @Sendable () async throws -> Void)] = [
            ("user(id:)", { _ = try await store.user(id: user.id) }),
            ("user(email:)", { _ = try await store.user(email: user.email) }),
            ("page(after:limit:)", { _ = try await store.page(after: nil, limit: 10) }),
            ("save (a new user)", { _ = try await store.save(change.user, expectedVersion: 0, events: change.events) }),
            ("save (an update)", { _ = try await store.save(rename.user, expectedVersion: 1, events: rename.events) }),
            ("insert(_:)", { _ = try await store.insert([change]) }),
            ("delete(id:expectedVersion:events:)", { _ = try await store.delete(id: user.id, expectedVersion: 1, events: []) }),
            ("unpublishedEvents(limit:)", { _ = try await store.unpublishedEvents(limit: 10) }),
            ("markPublished(_:)", { try await store.markPublished([position]) }),
            ("markFailed(_:reason:retryAt:)", { try await store.markFailed(position, reason: "test", retryAt: nil) }),
            ("outboxStatus()", { _ = try await store.outboxStatus() }),
            ("deadEvents(limit:)", { _ = try await store.deadEvents(limit: 10) }),
            ("retryDeadEvents(_:)", { _ = try await store.retryDeadEvents(nil) }),
            ("events(after:limit:)", { _ = try await store.events(after: nil, limit: 10) }),
            ("deletePublishedEvents(before:)", { _ = try await store.deletePublishedEvents(before: Date()) }),
            ("acquireRelayLease(owner:duration:)", { _ = try await store.acquireRelayLease(owner: "t", duration: .seconds(1)) }),
            ("releaseRelayLease(owner:)", { try await store.releaseRelayLease(owner: "t") }),
        ]
        if let directory = (store as? any DirectoryHosting)?.directoryReplica {
            // The store's directory closes with it.
            let directoryOperations: [(String, @Sendable () async throws -> Void)] = [
                ("directory: search(prefix:limit:)", { _ = try await directory.search(prefix: "c", limit: 10) }),
                ("directory: statistics()", { _ = try await directory.statistics() }),
                ("directory: backfillPosition()", { _ = try await directory.backfillPosition() }),
                ("directory: appliedVersion(of:)", { _ = try await directory.appliedVersion(of: event.envelope.userID) }),
                ("directory: apply(_:reaching:)", { _ = try await directory.apply([event.envelope], reaching: position) }),
                ("directory: reset()", { try await directory.reset() }),
            ]
            operations += directoryOperations
        }
        for (name, operation) in operations {
            do {
                try await operation()
            } catch let error as UserStoreError where error.code == .closed {
                continue
            } catch {
                throw expect.fail("\(name) after close(): expected UserStoreError.closed, got \(error)")
            }
            throw expect.fail("\(name) after close(): expected UserStoreError.closed, but it succeeded")
        }
    }

    /// Checks that a store runs as a `Service`: listed first in a `ServiceGroup`, it stays open while the
    /// services after it shut down (one of them writes to it during its own shutdown), and is closed when
    /// its `run()` returns after the group's graceful shutdown.
    ///
    /// - Throws: ``ContractViolation`` when the write during shutdown failed or the store still works after
    ///   the group ended.
    public static func checkRunsAsService<Store: UserStore & Service>(_ store: Store, logger: Logger) async throws {
        let expect = Expectations(check: "a store in a ServiceGroup closes last and is closed when run() returns")
        let writer = WritesDuringShutdown(store: store)
        try await testGracefulShutdown { trigger in
            let group = ServiceGroup(
                configuration: .init(services: [.init(service: store), .init(service: writer)], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                // The writer is running (it registered a user): the group is up; shut it down.
                try expect.that(await writer.started.value, "the second service started")
                trigger.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
        try expect.that(await writer.wroteDuringShutdown.value, "a service after the store wrote to it while shutting down")
        do {
            _ = try await store.user(id: UserID(UUID()))
        } catch let error as UserStoreError where error.code == .closed {
            return
        }
        throw expect.fail("a lookup after the group ended: expected UserStoreError.closed")
    }
}

/// A service that registers a user when it starts and another when its graceful shutdown begins: the second
/// succeeds only if the store it uses is still open then.
private struct WritesDuringShutdown<Store: UserStore>: Service {
    let store: Store
    let started = Outcome()
    let wroteDuringShutdown = Outcome()

    func run() async throws {
        let fixture = Fixture(repository: store, store: store, expect: Expectations(check: "writer"))
        do {
            try await fixture.register()
            started.set(true)
        } catch {
            started.set(false)
            throw error
        }
        try? await gracefulShutdown()
        do {
            try await fixture.register()
            wroteDuringShutdown.set(true)
        } catch {
            wroteDuringShutdown.set(false)
        }
    }
}

/// A Boolean set once, awaited by the test.
private final class Outcome: Sendable {
    private let state = Locked<(value: Bool?, waiters: [CheckedContinuation<Bool, Never>])>((nil, []))

    func set(_ value: Bool) {
        let waiters = state.withLock { state in
            guard state.value == nil else { return [CheckedContinuation<Bool, Never>]() }
            state.value = value
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// The value once set (false if it never is: the service failed before setting it).
    var value: Bool {
        get async {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool? in
                    if let value = state.value { return value }
                    state.waiters.append(continuation)
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        }
    }
}
