import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import UserDomain
import UserPorts

/// `GET /directory/users?prefix=&limit=` and `GET /directory/stats`: the read model, consistent with a write
/// when the request sends its `Consistency-Token`. The one HTTP face of the directory, in both services
/// (``UserAPI`` and ``DirectoryAPI`` add these routes).
enum DirectoryRoutes {
    static func add(to router: Router<UserRequestContext>, _ directory: DirectoryQueries) {
        router.get("directory/users") { request, _ in
            let query = request.uri.queryParameters
            var limit = 20
            if let text = query["limit"] {
                guard let value = Int(text), (1...DirectoryQueries.maximumLimit).contains(value)
                else {
                    throw Problem.badRequest(
                        "invalid-limit", "limit must be a whole number from 1 to \(DirectoryQueries.maximumLimit).",
                        field: "limit")
                }
                limit = value
            }
            let entries = try await Self.directoryRead {
                try await directory.search(
                    prefix: query["prefix"].map(String.init) ?? "", limit: limit,
                    consistentWith: try Self.consistencyToken(request))
            }
            return try Self.json(DirectoryPage(items: entries.map(DirectoryEntryRepresentation.init)))
        }
        router.get("directory/stats") { request, _ in
            let statistics = try await Self.directoryRead {
                try await directory.statistics(consistentWith: try Self.consistencyToken(request))
            }
            return try Self.json(
                DirectoryStatisticsRepresentation(
                    active: statistics.active, deactivated: statistics.deactivated, total: statistics.total))
        }
    }

    /// The `Consistency-Token` a directory read asks for, if any.
    ///
    /// - Throws: 400 when it is not a token this API gave.
    private static func consistencyToken(_ request: Request) throws -> EventPosition? {
        guard let text = request.headers[.consistencyToken] else { return nil }
        guard let value = Int64(text.trimmingCharacters(in: .whitespaces)), value > 0 else {
            throw Problem.badRequest(
                "invalid-consistency-token", "Consistency-Token must be a token a write of this API returned.")
        }
        return EventPosition(rawValue: value)
    }

    static func json(_ value: some Encodable) throws -> Response {
        let data = try JSONEncoder.sorted.encode(value)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Runs a directory read; a consistency token not reached in time is 503 with `Retry-After`.
    private static func directoryRead<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as DirectoryNotCaughtUp {
            throw Problem(
                .serviceUnavailable, code: "directory-behind", title: "The directory has not caught up yet.",
                detail: error.description, headers: [.retryAfter: "1"])
        } catch let error as UnknownConsistencyToken {
            throw Problem.badRequest("invalid-consistency-token", error.description)
        }
    }
}
