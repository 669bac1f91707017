// Quoted in: README.md
// snippet.hide
import Foundation

// The store creates data/ in the working directory: work in a temporary one.
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sqlite-snippet-\(UUID())")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
_ = FileManager.default.changeCurrentDirectoryPath(folder.path)
defer { try? FileManager.default.removeItem(at: folder) }
// snippet.show
import UserPorts
import UserSQLite

let store = try await SQLiteUserStore.open(.init(path: "data/users.sqlite"))   // created with its folder
let users = UserService(repository: store)
// …
await store.close()
