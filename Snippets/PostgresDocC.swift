// Quoted in: Sources/Adapters/Postgres/UserPostgres.docc/UserPostgres.md
// Compiled, not run: it names a server that is not there.
import UserPorts
import UserPostgres

let store = try await PostgresUserStore.open(.init(url: "postgres://app:secret@localhost/users"))
let users = UserService(repository: store)
