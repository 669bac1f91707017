// Quoted in: README.md
// Compiled, not run: it names a server that is not there.
import UserPorts
import UserPostgres

let store = try await PostgresUserStore.open(.init(url: "postgres://app:secret@db.internal:5432/users?sslmode=require"))
let users = UserService(repository: store)
// …
await store.close()
