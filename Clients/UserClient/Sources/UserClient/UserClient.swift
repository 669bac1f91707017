import Foundation
public import OpenAPIRuntime
import OpenAPIURLSession

extension Client {
    /// A client of the user service at `serverURL`, configured as the service's document asks: timestamps
    /// with fractional seconds (`2026-11-27T08:11:27.123Z`), which the runtime's default transcoder refuses.
    ///
    /// Conditional writes need nothing more: the generator percent-encodes header values (`"3"` goes out as
    /// `%223%22`), and the service decodes a value that is not valid as sent.
    public static func userService(serverURL: URL, middlewares: [any ClientMiddleware] = []) -> Client {
        Client(
            serverURL: serverURL, configuration: .init(dateTranscoder: .iso8601WithFractionalSeconds),
            transport: URLSessionTransport(), middlewares: middlewares)
    }
}
