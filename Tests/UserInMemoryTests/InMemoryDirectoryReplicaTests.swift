import Testing
import UserInMemory
import UserPortsTesting

@Suite("InMemoryDirectoryReplica contract")
struct InMemoryDirectoryReplicaTests {
    @Test(arguments: DirectoryReplicaContract.checks)
    func contract(_ check: DirectoryReplicaContract.Check) async throws {
        try await DirectoryReplicaContract { body in try await body(InMemoryDirectoryReplica()) }.run(check)
    }
}
