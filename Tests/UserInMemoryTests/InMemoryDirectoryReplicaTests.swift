import Testing
import UserInMemory
import UserPortsTesting

@Suite("InMemoryDirectoryReplica contract")
struct InMemoryDirectoryReplicaTests {
    @Test(arguments: DirectoryReplicaContract.checks)
    func contract(_ check: DirectoryReplicaContract.Check) async throws {
        try await DirectoryReplicaContract { body in try await body(InMemoryDirectoryReplica()) }.run(check)
    }

    @Test("the directory of an InMemoryUserStore", arguments: DirectoryReplicaContract.checks)
    func hostedContract(_ check: DirectoryReplicaContract.Check) async throws {
        try await DirectoryReplicaContract { body in
            let store = InMemoryUserStore()
            try await body(store.directoryReplica)
            await store.close()
        }.run(check)
    }
}
