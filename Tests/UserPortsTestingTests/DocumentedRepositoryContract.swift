// Quoted in: README.md
import Testing
import UserPortsTesting

@Test(arguments: UserStoreContract.checks(for: .repository))
func repositoryContract(_ check: UserStoreContract.Check) async throws {
    try await UserStoreContract(repository: { body in
        let store = try await MyStore.temporary()
        try await body(store)
        try await store.destroy()
    }).run(check)
}
// snippet.hide
// The docs' code, compiled and run against a store of the package: `MyStore` stands for the reader's own.
import UserInMemory

typealias MyStore = InMemoryUserStore

extension InMemoryUserStore {
    static func temporary() async throws -> InMemoryUserStore { InMemoryUserStore() }
    func destroy() async throws { await close() }
}
