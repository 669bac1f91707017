import HTTPTypes
package import Hummingbird
import Metrics
import UserPorts

/// Counts and times requests through swift-metrics, with the names and dimensions of Hummingbird's
/// `MetricsMiddleware` (`hb.requests`, `http.server.request.duration`, `hb.request.errors`,
/// `http.server.active_requests`), so that dashboards built for it keep working.
///
/// Hummingbird's middleware records when the body has been written, by wrapping the response body in a
/// closure; that takes the response off Hummingbird's fast path for a single-buffer body (head, body and end
/// in one write) onto three separate writes to the channel (`strace` on `GET /users/{id}`: 2.7 `write` calls
/// per request with it, one `writev` with this one). This one records when the handler has produced the
/// response, which leaves the body as it is. Responses with a status of 400 or more count as errors (the
/// request-id middleware inside it turns thrown errors into problem responses).
package struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private struct Endpoint: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: Int
    }

    private struct EndpointMetrics: Sendable {
        let requests: Counter
        let duration: Timer
        let errors: Counter?
    }

    private final class Cache: Sendable {
        let active = Locked<[HTTPRequest.Method: Meter]>([:])
        let endpoints = Locked<[Endpoint: EndpointMetrics]>([:])
    }

    private let cache = Cache()

    /// Creates the middleware.
    package init() {}

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let started = ContinuousClock.now
        let active = activeRequests(request.method)
        active.increment()
        defer { active.decrement() }
        let status: HTTPResponse.Status
        let response: Response
        do {
            response = try await next(request, context)
            status = response.status
        } catch {
            status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            record(request, context, status: status, since: started)
            throw error
        }
        record(request, context, status: status, since: started)
        return response
    }

    private func record(
        _ request: Request, _ context: Context, status: HTTPResponse.Status, since started: ContinuousClock.Instant
    ) {
        let elapsed = ContinuousClock.now - started
        let endpoint = Endpoint(route: context.endpointPath ?? "NotFound", method: request.method, status: status.code)
        let metrics = cache.endpoints.withLock { endpoints in
            if let metrics = endpoints[endpoint] { return metrics }
            let metrics = Self.makeMetrics(endpoint)
            endpoints[endpoint] = metrics
            return metrics
        }
        metrics.requests.increment()
        let (seconds, attoseconds) = elapsed.components
        metrics.duration.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        metrics.errors?.increment()
    }

    private func activeRequests(_ method: HTTPRequest.Method) -> Meter {
        cache.active.withLock { active in
            if let meter = active[method] { return meter }
            let meter = Meter(
                label: "http.server.active_requests", dimensions: [("http.request.method", method.rawValue)])
            active[method] = meter
            return meter
        }
    }

    private static func makeMetrics(_ endpoint: Endpoint) -> EndpointMetrics {
        let dimensions = [
            ("http.route", endpoint.route), ("http.request.method", endpoint.method.rawValue),
            ("http.response.status_code", String(endpoint.status)),
        ]
        return EndpointMetrics(
            requests: Counter(label: "hb.requests", dimensions: dimensions),
            duration: Timer(
                label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds),
            errors: endpoint.status >= 400
                ? Counter(
                    label: "hb.request.errors",
                    dimensions: [
                        ("http.route", endpoint.route), ("http.request.method", endpoint.method.rawValue),
                        ("error.type", String(endpoint.status)),
                    ]) : nil)
    }
}
