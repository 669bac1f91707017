import Foundation
import Logging
import Testing
import UserDomain
import UserPorts
import UserPortsTesting
@testable import UserPostgres

@Suite("PostgresUserStore lifetime")
struct PostgresUserStoreLifecycleTests {
    /// Whether the LISTEN and lookup threads of `store` have all ended.
    static func threadsEnded(_ store: PostgresUserStore) -> Bool {
        !(store.listener?.isRunning ?? false) && store.lookups.allSatisfy { !$0.isRunning }
    }

    /// Awaits `body`, failing the test if it has not returned within the safety net (a hang).
    static func completes(_ what: String, _ body: @escaping @Sendable () async -> Void) async throws {
        let done = Locked(false)
        let task = Task {
            await body()
            done.withLock { $0 = true }
        }
        try #require(try await Patience.waitUntil { done.withLock { $0 } }, "\(what) never returned")
        await task.value
    }

    @Test("a closed store refuses every operation with UserStoreError.closed, and its threads have ended")
    func closedStoreRefusesOperations() async throws {
        try await TestPostgres.withFreshSchema { url in
            let store = try await PostgresUserStore.open(.init(url: url, listensForCommits: true))
            #expect(store.listener?.isRunning == true, "open started the listener")
            #expect(!store.lookups.isEmpty && store.lookups.allSatisfy(\.isRunning), "open started the pipelines")
            try await UserStoreContract.checkRefusesOperationsAfterClose(store) { await store.close() }
            #expect(Self.threadsEnded(store))
            #expect(await store.connectionsInUse == 0)
        }
    }

    @Test("run() returns after a ServiceGroup's graceful shutdown, the store closed last, its threads ended")
    func runsAsService() async throws {
        try await TestPostgres.withFreshSchema { url in
            let store = try await PostgresUserStore.open(.init(url: url, listensForCommits: true))
            try await UserStoreContract.checkRunsAsService(store, logger: Logger(label: "test"))
            #expect(Self.threadsEnded(store))
        }
    }

    @Test("a listener whose server is unreachable stops when asked, in the middle of its backoff")
    func listenerInBackoffStops() async throws {
        // Nothing listens on port 1: every connect fails at once. The backoff is an hour, so a stop that only
        // took effect after the backoff would never come back.
        let url = try PostgresURL("postgresql://app@127.0.0.1:1/nowhere", connectTimeout: .seconds(5))
        let listener = try PostgresListener(
            url: url, signal: CommitSignal(), logger: Logger(label: "test"), backoff: { _ in .seconds(3600) })
        listener.start()
        try #require(
            try await Patience.waitUntil { listener.consecutiveFailures > 0 }, "the listener never tried to connect")
        try await Self.completes("stop() during the backoff") { await listener.stop() }
        #expect(!listener.isRunning)
        await listener.stop()  // idempotent
    }

    @Test("a listener that never started stops at once; one stopped before it starts never starts")
    func listenerNotStarted() async throws {
        let url = try PostgresURL("postgresql://app@127.0.0.1:1/nowhere", connectTimeout: .seconds(5))
        let listener = try PostgresListener(url: url, signal: CommitSignal(), logger: Logger(label: "test"))
        await listener.stop()
        listener.start()
        #expect(!listener.isRunning)
    }

    @Test("a connected listener stops at once when the store closes")
    func connectedListenerStops() async throws {
        try await TestPostgres.withFreshSchema { url in
            let store = try await PostgresUserStore.open(.init(url: url, listensForCommits: true))
            try #require(
                await store.commitSignal.wait(after: 0, timeout: Patience.safetyNet), "the listener never connected")
            try await Self.completes("close()") { await store.close() }
            #expect(Self.threadsEnded(store))
        }
    }

    @Test("a lookup pipeline that never started closes at once and fails what was queued")
    func pipelineNotStarted() async throws {
        let url = try PostgresURL("postgresql://app@127.0.0.1:1/nowhere", connectTimeout: .seconds(5))
        let pipeline = PostgresLookupPipeline<Int>(url: url, statements: ["SELECT 1"], logger: Logger(label: "test")) {
            _ in 1
        }
        let queued = Task { try await pipeline.lookup(0, "x") }
        try #require(try await Patience.waitUntil { pipeline.load == 1 }, "the lookup was never queued")
        await pipeline.close()
        await #expect(throws: UserStoreError.self) { try await queued.value }
        pipeline.start()
        #expect(!pipeline.isRunning)
    }

    @Test("the slot of a connection closed after a cancel goes to the first waiter, whose task connects")
    func discardedConnectionGoesToWaiter() async throws {
        try await TestPostgres.withFreshSchema { url in
            try await TestPostgres.withStore(url, maximumConnections: 1) { store in
                // The only connection sleeps on the server; a second caller waits in line.
                let blocker = Task { try await store.sleepOnServer(seconds: 300) }
                try await TestPostgres.waitUntil(store, holds: 1)
                let waiter = Task { try await store.page(after: nil, limit: 10) }
                try #require(try await Patience.waitUntil { store.pool.waiting == 1 }, "the caller never waited")
                // Cancelling the blocker cancels its query; its connection, sent a cancel, is closed, not reused.
                blocker.cancel()
                _ = try? await blocker.value
                #expect(try await waiter.value.users.isEmpty)
                #expect(store.pool.waiting == 0)
            }
        }
    }
}
