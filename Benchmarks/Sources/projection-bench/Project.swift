import Logging
import UserAppCore
import UserPorts

/// The projection from an empty directory to the end of the store's history: the store's own directory replica,
/// as `UserSystem` wires it.
func project(_ system: UserSystem<AnyUserStore>) async throws -> Int {
    let projection = DirectoryProjection(
        history: system.store, replica: system.store.directoryReplica, logger: Logger(label: "projection-bench"))
    return try await projection.catchUp().applied
}
