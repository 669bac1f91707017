// bare-server: a bare Hummingbird route that returns a constant JSON body the size of a user's
// representation: the ceiling `users serve` is compared with for GET /users/{id}.
//
//   bare-server PORT
import Foundation
import Hummingbird

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 8090 : 8090
// The same size as `users serve`'s answer for a workload user (id, e-mail, name, status, version, times).
let body = ByteBuffer(
    string:
        #"{"createdAt":"2023-11-14T22:13:20.000Z","displayName":"User 12345","email":"user12345@example.com","id":"00000000-0000-4000-8000-000000003039","status":"active","updatedAt":"2023-11-14T22:13:20.000Z","version":1}"#
)
let router = Router()
router.get("users/:id") { _, _ in
    Response(
        status: .ok, headers: [.contentType: "application/json", .eTag: "\"1\""], body: .init(byteBuffer: body))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
