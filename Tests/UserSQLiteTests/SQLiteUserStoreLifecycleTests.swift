import Foundation
import Logging
import Testing
import UserDomain
import UserPorts
import UserPortsTesting
@testable import UserSQLite

@Suite("SQLiteUserStore lifetime")
struct SQLiteUserStoreLifecycleTests {
    @Test("a closed store refuses every operation with UserStoreError.closed; close() is idempotent")
    func closedStoreRefusesOperations() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteUserStore.open(.init(path: directory.appendingPathComponent("c.sqlite").path))
            try await UserStoreContract.checkRefusesOperationsAfterClose(store) { await store.close() }
        }
        let memory = try await SQLiteUserStore.open(.init(path: SQLiteUserStore.Configuration.inMemoryPath))
        try await UserStoreContract.checkRefusesOperationsAfterClose(memory) { await memory.close() }
    }

    @Test("run() returns after a ServiceGroup's graceful shutdown, the store closed last")
    func runsAsService() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteUserStore.open(.init(path: directory.appendingPathComponent("s.sqlite").path))
            try await UserStoreContract.checkRunsAsService(store, logger: Logger(label: "test"))
            // The checkpointer's connection is closed too.
            let checkpointer = try #require(store.checkpointer)
            await #expect(throws: UserStoreError.self) { try await checkpointer.perform { _ in } }
        }
    }

    @Test("close() waits for the checkpoint that runs, and checkpoints asked for afterwards do nothing")
    func closeWaitsForTheCheckpoint() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteUserStore.open(.init(path: directory.appendingPathComponent("k.sqlite").path))
            let checkpointer = try #require(store.checkpointer)
            // Hold the checkpointer's queue, as a long checkpoint would, and close meanwhile.
            // (The semaphore blocks the checkpointer's own queue, never the cooperative pool.)
            let release = DispatchSemaphore(value: 0)
            let holding = Locked(false)
            let held = Task {
                try await checkpointer.perform { _ in
                    holding.withLock { $0 = true }
                    release.wait()
                }
            }
            try #require(try await Patience.waitUntil { holding.withLock { $0 } }, "the queue was never held")
            let closed = Locked(false)
            let closing = Task {
                await store.close()
                closed.withLock { $0 = true }
            }
            // A close that did not wait would finish now; it can't while the queue is held.
            await Task.yield()
            #expect(!closed.withLock { $0 })
            release.signal()
            try await held.value
            await closing.value
            #expect(closed.withLock { $0 })
            await #expect(throws: UserStoreError.self) { try await checkpointer.perform { _ in } }
        }
    }
}
