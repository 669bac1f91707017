// Quoted in: Sources/App/Server/UserApp.docc/Configuration.md
// Compiled, not run: it reads a file that is not there.
import UserApp

let reader = try await UserAppConfiguration.reader(
    arguments: ["users.store": "postgres://app@db/users"], file: "/etc/users.yaml")
let configuration = try UserAppConfiguration(reader: reader)
