import Foundation
import Hummingbird
import Logging
import Testing
import UserDirectoryService
import UserAppCore
import UserPorts
import UserPortsTesting

@Suite("HTTPEventHistory")
struct HTTPEventHistoryTests {
    /// An application on a free loopback port that answers every request with `respond`, recording the
    /// `Authorization` header it got.
    final class Recorder: Sendable {
        let port = Locked<Int?>(nil)
        let authorizations = Locked<[String]>([])

        func application(_ respond: @escaping @Sendable () -> Response) -> some ApplicationProtocol {
            let router = Router()
            router.get("events") { [authorizations] request, _ -> Response in
                authorizations.withLock { $0.append(request.headers[.authorization] ?? "-") }
                return respond()
            }
            return Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { [port] channel in port.withLock { $0 = channel.localAddress?.port } },
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        }

        func waitForPort() async throws -> Int {
            try #require(try await Patience.waitUntil { self.port.withLock { $0 } != nil })
            return port.withLock { $0! }
        }
    }

    @Test("a redirect is not followed: the token never goes to the address it names, and the read fails")
    func redirectsRefused() async throws {
        let elsewhere = Recorder()
        try await withService(elsewhere.application { Response(status: .ok) }) {
            let target = try await elsewhere.waitForPort()
            let redirector = Recorder()
            let app = redirector.application {
                Response(status: .found, headers: [.location: "http://localhost:\(target)/events?after=0&limit=10"])
            }
            try await withService(app) {
                let port = try await redirector.waitForPort()
                let history = HTTPEventHistory(baseURL: URL(string: "http://127.0.0.1:\(port)")!, token: "t0k-secret")
                await #expect {
                    _ = try await history.events(after: nil, limit: 10)
                } throws: { error in
                    "\(error)".contains("302") && !"\(error)".contains("t0k-secret")
                }
                #expect(redirector.authorizations.withLock { $0 } == ["Bearer t0k-secret"])
                #expect(elsewhere.authorizations.withLock { $0 }.isEmpty, "the token went to the redirect's target")
            }
        }
    }
}
