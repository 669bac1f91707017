public import ServiceLifecycle
import UserAdapterSupport
import UserPorts

extension InMemoryUserStore: Service {
    /// Waits until a graceful shutdown of the task (a `ServiceGroup`'s), its cancellation or a ``close()``,
    /// then closes the store.
    ///
    /// The store works before and without `run()`; running it only ties its end to a group's shutdown.
    public nonisolated func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await lifetime.waitUntilEnding()
        } onCancelOrGracefulShutdown: { [lifetime] in
            lifetime.requestEnd()
        }
        await close()
    }

    /// Closes the store and drops its data: every operation afterwards throws `UserStoreError` code `closed`.
    ///
    /// Idempotent, and safe to call while ``run()`` ends.
    public nonisolated func close() async {
        await lifetime.close {
            await self.dropEverything()
            await self.directory.close()
        }
    }
}
