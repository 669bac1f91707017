// Quoted in: README.md
// Quoted in: Sources/Ports/UserPorts.docc/WritingAnAdapter.md
// snippet.hide
import Testing
import UserPortsTesting

// snippet.show
@Test(arguments: UserStoreContract.checks)
func contract(_ check: UserStoreContract.Check) async throws {
    try await UserStoreContract { body in
        let store = try await MyStore.temporary()
        try await body(store)
        try await store.destroy()
    }.run(check)
}
