import Foundation
import Testing
import UserPortsTesting
import UserSQLite

@Suite("SQLiteUserStore contract")
struct SQLiteUserStoreContractTests {
    @Test("on a database file", arguments: UserStoreContract.checks)
    func contractOnFile(_ check: UserStoreContract.Check) async throws {
        try await UserStoreContract { body in
            try await withTemporaryDirectory { directory in
                let store = try await SQLiteUserStore.open(
                    .init(path: directory.appendingPathComponent("users.sqlite").path))
                do {
                    try await body(store)
                } catch {
                    await store.close()
                    throw error
                }
                await store.close()
            }
        }.run(check)
    }

    @Test("on :memory:", arguments: UserStoreContract.checks)
    func contractInMemory(_ check: UserStoreContract.Check) async throws {
        try await UserStoreContract { body in
            let store = try await SQLiteUserStore.open(.init(path: SQLiteUserStore.Configuration.inMemoryPath))
            do {
                try await body(store)
            } catch {
                await store.close()
                throw error
            }
            await store.close()
        }.run(check)
    }
}
