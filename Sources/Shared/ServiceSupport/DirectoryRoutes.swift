import Foundation
package import HTTPTypes
package import Hummingbird
import NIOCore
import UserDomain
package import UserPorts

/// `GET /directory/users?prefix=&limit=` and `GET /directory/stats`: the read model, consistent with a write
/// when the request sends its `Consistency-Token`. The one HTTP face of the directory, in both services
/// (`UserAPI` and `DirectoryAPI` add these routes).
package enum DirectoryRoutes {
    package static func add(to router: Router<UserRequestContext>, _ directory: DirectoryQueries) {
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

    package static func json(_ value: some Encodable) throws -> Response {
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

/// A directory entry in JSON: the user representation's keys.
package struct DirectoryEntryRepresentation: Encodable {
    package var id: String
    package var email: String
    package var displayName: String
    package var status: String
    package var version: Int
    package var createdAt: String
    package var updatedAt: String

    package init(_ entry: DirectoryEntry) {
        id = entry.id.description
        email = entry.email
        displayName = entry.displayName
        status = entry.status.rawValue
        version = entry.version
        createdAt = RFC3339.string(from: entry.createdAt)
        updatedAt = RFC3339.string(from: entry.updatedAt)
    }
}

/// A directory search result: `{"items":[…]}`.
package struct DirectoryPage: Encodable {
    package var items: [DirectoryEntryRepresentation]
}

/// `{"active":…,"deactivated":…,"total":…}`.
package struct DirectoryStatisticsRepresentation: Encodable {
    package var active: Int
    package var deactivated: Int
    package var total: Int
}

extension HTTPField.Name {
    /// `Consistency-Token`: the position of a write's last event, to read one's writes from the directory.
    package static let consistencyToken = HTTPField.Name("Consistency-Token")!
}
