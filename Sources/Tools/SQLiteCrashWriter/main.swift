// Registers users in a SQLite store as fast as it can and prints each id once its save has returned, until
// it is killed. The crash-durability test kills it with SIGKILL and checks that every printed user survived.
//
// usage: sqlite-crash-writer PATH [full|normal]
import Foundation
import UserDomain
import UserPorts
import UserSQLite

let arguments = CommandLine.arguments
// `sqlite-crash-writer configure-process`: prints what SQLiteUserStore.configureProcess() does in a process that
// has not used SQLite yet, then what a store opened afterwards leaves (for the process-settings test).
if arguments.count == 2, arguments[1] == "configure-process" {
    print(SQLiteUserStore.configureProcess() == .applied ? "applied" : "too late")
    exit(0)
}
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: sqlite-crash-writer PATH [full|normal]\n".utf8))
    exit(64)
}
let synchronous: SQLiteUserStore.Configuration.Synchronous =
    arguments.count > 2 && arguments[2] == "full" ? .full : .normal

func run() async throws {
    let store = try await SQLiteUserStore.open(.init(path: arguments[1], synchronous: synchronous, readerCount: 1))
    let users = UserUseCases(repository: store)
    let stdout = FileHandle.standardOutput
    var index = 0
    while true {
        let user = try await users.register(
            email: "crash\(index)-\(UUID().uuidString.prefix(8))@example.com", displayName: "Crash \(index)")
        stdout.write(Data("\(user.id)\n".utf8))
        index += 1
    }
}

let done = DispatchSemaphore(value: 0)
Task.detached {
    do {
        try await run()
    } catch {
        FileHandle.standardError.write(Data("sqlite-crash-writer: \(error)\n".utf8))
        exit(1)
    }
    done.signal()
}
done.wait()
