// Quoted in: Sources/App/Server/UserApp.docc/UserApp.md
// snippet.hide
import Foundation

let folder = FileManager.default.temporaryDirectory.appendingPathComponent("system-snippet-\(UUID())")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
_ = FileManager.default.changeCurrentDirectoryPath(folder.path)
defer { try? FileManager.default.removeItem(at: folder) }
// snippet.show
import Logging
import UserApp

let logger = Logger(label: "my-app")
let reader = try await UserAppConfiguration.reader(arguments: [:])
let system = try await UserSystem.open(try UserAppConfiguration(reader: reader), logger: logger)
let ada = try await system.users.register(email: "ada@example.com", displayName: "Ada")
await system.close()
