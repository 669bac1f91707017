import Foundation
import Logging
import Testing
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting

@Suite("InMemoryUserStore lifetime")
struct InMemoryUserStoreLifecycleTests {
    @Test("a closed store refuses every operation with UserStoreError.closed; close() is idempotent")
    func closedStoreRefusesOperations() async throws {
        let store = InMemoryUserStore()
        try await UserStoreContract.checkRefusesOperationsAfterClose(store) { await store.close() }
    }

    @Test("run() returns after a ServiceGroup's graceful shutdown, the store closed last")
    func runsAsService() async throws {
        try await UserStoreContract.checkRunsAsService(InMemoryUserStore(), logger: Logger(label: "test"))
    }

    @Test("close() ends a run() that waits, and run() after close() returns at once")
    func closeEndsRun() async throws {
        let store = InMemoryUserStore()
        async let running: Void = store.run()
        _ = try await store.user(id: UserID(UUID()))  // works while (and before) it runs
        await store.close()
        try await running
        try await store.run()
    }

    @Test("cancelling run() closes the store")
    func cancellingRunCloses() async throws {
        let store = InMemoryUserStore()
        let running = Task { try await store.run() }
        running.cancel()
        try await running.value
        await #expect(throws: UserStoreError.self) { try await store.user(id: UserID(UUID())) }
    }
}
