import Testing
import UserInMemory
import UserPortsTesting

@Suite("InMemoryUserStore contract")
struct InMemoryUserStoreContractTests {
    @Test(arguments: UserStoreContract.checks)
    func contract(_ check: UserStoreContract.Check) async throws {
        try await UserStoreContract { body in
            try await body(InMemoryUserStore())
        }.run(check)
    }

    @Test("the suite has at least 30 checks with distinct names")
    func suiteSize() {
        #expect(UserStoreContract.checks.count >= 30)
        #expect(Set(UserStoreContract.checks.map(\.name)).count == UserStoreContract.checks.count)
    }
}
