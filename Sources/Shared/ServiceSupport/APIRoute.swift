package import HTTPTypes

/// One operation of `UserAPI`: a method on a path template, as the router serves it and as the OpenAPI
/// document (`OpenAPIDocument`) describes it.
///
/// ``APIRoute/all`` is the one table the middleware read: `MethodNotAllowedMiddleware` answers 405 with the
/// `Allow` list of a path from it, and `BearerAuthenticationMiddleware` lets the requests for its public paths
/// through without a token. The tests compare it with the router's routes (a fully configured API) and with the
/// document's operations, so none of the three changes without the others.
package struct APIRoute: Sendable, Hashable, CustomStringConvertible {
    /// When a route exists.
    package enum Availability: Sendable, Hashable {
        /// Always.
        case always
        /// When the API is given a metrics exposition.
        case metrics
        /// When the API is given directory queries.
        case directory
        /// When the API is given an event history (`UserAPI.servingEvents(from:)`).
        case events
    }

    /// The method (HEAD is not listed: the router answers it wherever GET is).
    package let method: HTTPRequest.Method
    /// The path template, in the document's and the router's notation: `/users/{id}`.
    package let path: String
    /// The operation's `operationId` in the document.
    package let operationID: String
    /// Whether the route is served without a bearer token when the API has tokens.
    package let isPublic: Bool
    /// When the route exists.
    package let availability: Availability

    package init(
        _ method: HTTPRequest.Method, _ path: String, _ operationID: String, public isPublic: Bool = false,
        when availability: Availability = .always
    ) {
        self.method = method
        self.path = path
        self.operationID = operationID
        self.isPublic = isPublic
        self.availability = availability
    }

    package var description: String { "\(method) \(path)" }

    /// Every route, in the order the methods of a path are listed in `Allow`.
    package static let all: [APIRoute] = [
        APIRoute(.get, "/users", "listUsers"),
        APIRoute(.post, "/users", "registerUser"),
        APIRoute(.get, "/users/{id}", "getUser"),
        APIRoute(.patch, "/users/{id}", "updateUser"),
        APIRoute(.delete, "/users/{id}", "deleteUser"),
        APIRoute(.post, "/users/{id}/deactivate", "deactivateUser"),
        APIRoute(.post, "/users/{id}/reactivate", "reactivateUser"),
        APIRoute(.get, "/directory/users", "searchDirectory", when: .directory),
        APIRoute(.get, "/directory/stats", "directoryStatistics", when: .directory),
        APIRoute(.get, "/events", "listEvents", when: .events),
        APIRoute(.get, "/health/live", "live", public: true),
        APIRoute(.get, "/health/ready", "ready", public: true),
        APIRoute(.get, "/metrics", "metrics", when: .metrics),
        APIRoute(.get, "/openapi.yaml", "openAPIDocument", public: true),
    ]

    /// The routes of an API with or without metrics, directory and event history.
    package static func served(metrics: Bool, directory: Bool, events: Bool) -> [APIRoute] {
        all.filter {
            switch $0.availability {
            case .always: true
            case .metrics: metrics
            case .directory: directory
            case .events: events
            }
        }
    }

    /// Whether a request path (without its query) matches the template: a `{name}` segment matches any one
    /// non-empty segment.
    package func matches(path requestPath: Substring) -> Bool {
        let template = path.utf8.split(separator: UInt8(ascii: "/"))
        let parts = requestPath.utf8.split(separator: UInt8(ascii: "/"))
        guard template.count == parts.count else { return false }
        return zip(template, parts).allSatisfy { template, part in
            template.first == UInt8(ascii: "{") || template.elementsEqual(part)
        }
    }

    /// The methods served on a request path, GET followed by HEAD, or `nil` when the path names no resource.
    package static func allowedMethods(path: Substring, among routes: [APIRoute]) -> [HTTPRequest.Method]? {
        var methods: [HTTPRequest.Method] = []
        for route in routes where route.matches(path: path) {
            methods.append(route.method)
            if route.method == .get { methods.append(.head) }
        }
        return methods.isEmpty ? nil : methods
    }

    /// Whether a request path names a route open without a token (the health checks, the document).
    package static func isPublic(path: Substring) -> Bool {
        all.contains { $0.isPublic && $0.matches(path: path) }
    }
}
