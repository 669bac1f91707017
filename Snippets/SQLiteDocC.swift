// Quoted in: Sources/Adapters/SQLite/UserSQLite.docc/UserSQLite.md
// snippet.hide
import Foundation

let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sqlite-docc-\(UUID())")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
_ = FileManager.default.changeCurrentDirectoryPath(folder.path)
defer { try? FileManager.default.removeItem(at: folder) }
// snippet.show
import UserPorts
import UserSQLite

let store = try await SQLiteUserStore.open(.init(path: "users.sqlite"))
let users = UserService(repository: store)
// snippet.hide
await store.close()
