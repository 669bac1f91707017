public import ServiceLifecycle
import UserAdapterSupport
import UserPorts

extension PostgresUserStore: Service {
    /// Waits until a graceful shutdown of the task (a `ServiceGroup`'s), its cancellation or a ``close()``,
    /// then closes the store.
    ///
    /// List the store before the services that use it (the relay, the HTTP server): a group shuts its
    /// services down in reverse order, so the store closes after them. The store works before and without
    /// `run()`.
    public func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await lifetime.waitUntilEnding()
        } onCancelOrGracefulShutdown: { [lifetime] in
            lifetime.requestEnd()
        }
        await close()
    }
}
