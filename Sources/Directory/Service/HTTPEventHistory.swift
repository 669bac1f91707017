public import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import UserDomain
public import UserPorts
import ServiceSupport

/// The event history of a user service over HTTP: `GET {base}/events?after=P&limit=N`, with
/// `Authorization: Bearer <token>` when given one.
///
/// Requests go through Foundation's `URLSession`, whose transfers run on its own threads (libcurl on
/// Linux), never blocking Swift's cooperative pool. The token is sent as a header only; it is never part of
/// an error or a description. Redirects are not followed (a 3xx is an error): the token goes to the
/// configured address and nowhere else.
public struct HTTPEventHistory: EventHistorySource {
    /// The user service's base URL, e.g. `http://127.0.0.1:8080`.
    public let baseURL: URL
    private let token: String?
    private let timeout: Duration

    /// Creates the source.
    ///
    /// - Parameters:
    ///   - baseURL: the user service's base URL (`http` or `https`).
    ///   - token: a bearer token of the user service, or `nil` when it serves without tokens.
    ///   - timeout: for each request.
    public init(baseURL: URL, token: String?, timeout: Duration = .seconds(10)) {
        self.baseURL = baseURL
        // Trimmed as the API tokens are: a token read from a file or a secret store often ends with a newline.
        self.token = token.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        self.timeout = timeout
    }

    /// The base URL as it may be printed: its password (and any query value) replaced by `***`.
    public var redactedBaseURL: String { URLRedaction.redact(baseURL.absoluteString, visibleParameters: []) }

    /// Reads one page.
    ///
    /// - Throws: ``EventHistoryError`` for a failed request, a status other than 200, or a body that is not
    ///   a page of events.
    public func events(after position: EventPosition?, limit: Int) async throws -> EventHistoryPage {
        var components = URLComponents(
            url: baseURL.appendingPathComponent("events"), resolvingAgainstBaseURL: false)
        components?.queryItems = [
            URLQueryItem(name: "after", value: String(position?.rawValue ?? 0)),
            URLQueryItem(name: "limit", value: String(limit)),
        ]
        guard let url = components?.url else { throw EventHistoryError("The events URL is not valid.") }
        var request = URLRequest(url: url)
        request.timeoutInterval = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await Self.fetch(request)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw EventHistoryError(
                "The event history at \(redactedBaseURL) can't be reached (\(type(of: error)): "
                    + "\((error as NSError).localizedDescription)).")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        if status == 410 {
            struct Gone: Decodable { var detail: String }
            let detail = (try? JSONDecoder().decode(Gone.self, from: data))?.detail ?? "retention deleted events."
            throw EventHistoryError(
                "The event history at \(redactedBaseURL) no longer reaches back to position \(position?.rawValue ?? 0) "
                    + "(410): \(detail)", status: status)
        }
        guard status == 200 else {
            throw EventHistoryError(
                "The event history at \(redactedBaseURL) answered \(status).",
                isAuthentication: status == 401 || status == 403, status: status)
        }
        do {
            let body = try JSONDecoder().decode(Body.self, from: data)
            return EventHistoryPage(
                items: body.items.map { .init(position: EventPosition(rawValue: $0.position), envelope: $0.event) },
                next: body.next.map { EventPosition(rawValue: $0) })
        } catch {
            throw EventHistoryError("The event history at \(redactedBaseURL) answered a body that is not a page.")
        }
    }

    /// `session.data(for:)`, but never cancelled through FoundationNetworking, whose two ways to cancel both fail:
    /// its own cancellation handler (in `data(for:)`) waits on the session's queue while that queue may be resuming
    /// this very task (a deadlock: a test hung, `users directory serve` would hang on SIGTERM), and
    /// `URLSessionTask.cancel()` on a task that completes at that moment stops the process ("Trying to access a
    /// behaviour for a task that in not in the registry", a fatal error seen in a test run). So a cancelled caller
    /// is answered at once with `CancellationError`, and its request runs on to its answer or its timeout
    /// (`timeoutInterval`), which nobody reads.
    private static func fetch(_ request: URLRequest) async throws -> (Data, URLResponse) {
        typealias Waiter = CheckedContinuation<(Data, URLResponse), any Error>
        let state = Locked<(waiter: Waiter?, cancelled: Bool)>((nil, false))
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: Waiter) in
                let waiting = state.withLock { state in
                    if !state.cancelled { state.waiter = continuation }
                    return !state.cancelled
                }
                guard waiting else { return continuation.resume(throwing: CancellationError()) }
                session.dataTask(with: request) { data, response, error in
                    guard let waiter = state.withLock({ state in defer { state.waiter = nil }; return state.waiter })
                    else { return }  // the caller was cancelled and answered
                    if let error {
                        waiter.resume(throwing: error)
                    } else if let data, let response {
                        waiter.resume(returning: (data, response))
                    } else {
                        waiter.resume(throwing: URLError(.badServerResponse))
                    }
                }.resume()
            }
        } onCancel: {
            let waiter = state.withLock { state in
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// A session that follows no redirect: `URLSession.shared` sent the bearer token on to whatever host a
    /// redirect named.
    private static let session = URLSession(
        configuration: .ephemeral, delegate: RefusingRedirects(), delegateQueue: nil)

    private struct Body: Decodable {
        struct Item: Decodable {
            var position: Int64
            var event: UserEventEnvelope
        }
        var items: [Item]
        var next: Int64?
    }
}

/// Answers every redirect with "don't follow": the task completes with the 3xx response.
private final class RefusingRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
