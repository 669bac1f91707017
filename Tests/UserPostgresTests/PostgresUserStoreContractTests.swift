import Testing
import UserPortsTesting
import UserPostgres

@Suite("PostgresUserStore contract")
struct PostgresUserStoreContractTests {
    @Test("against a real server", arguments: UserStoreContract.checks)
    func contract(_ check: UserStoreContract.Check) async throws {
        try await UserStoreContract { body in
            try await TestPostgres.withFreshSchema { url in
                try await TestPostgres.withStore(url) { store in try await body(store) }
            }
        }.run(check)
    }
}
