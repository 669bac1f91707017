import Foundation
import Hummingbird
import NIOCore
import UserDomain
public import UserPorts
import ServiceSupport

/// What `GET /events` reads: the event history of any store, behind one type (a backfill reads pages of up
/// to 1,000 events: the one indirect call per page is nothing beside the store's query).
protocol EventHistoryReading: Sendable {
    func events(after position: EventPosition?, limit: Int) async throws -> [OutboxEvent]
    func trimmedThrough() async throws -> EventPosition?
}

/// The history behind ``UserAPI/servingEvents(from:)``.
private struct EventHistoryReader<History: EventHistory>: EventHistoryReading {
    let history: History

    func events(after position: EventPosition?, limit: Int) async throws -> [OutboxEvent] {
        try await history.events(after: position, limit: limit)
    }

    func trimmedThrough() async throws -> EventPosition? {
        try await history.trimmedThrough()
    }
}

extension UserAPI {
    /// The API with `GET /events?after=&limit=`: the committed event history in position order, published
    /// or not, for services that keep a read model of their own (a backfill before they follow the broker).
    ///
    /// It needs a bearer token like every route but the health checks. A page is
    /// `{"items":[{"position":P,"event":ENVELOPE}],"next":P}`, where `ENVELOPE` is the event's stable JSON
    /// (the body the broker carries) and `next`, present when the page is full, is the `after` of the next
    /// page. A page that would start below what retention deleted (`after` lower than the store's
    /// `EventHistory.trimmedThrough()`) is refused with 410 and the problem `history-trimmed`: its reader would
    /// otherwise take an incomplete history for a whole one.
    public func servingEvents(from history: some EventHistory) -> UserAPI {
        var api = self
        api.events = EventHistoryReader(history: history)
        return api
    }

    /// The API whose `GET /health/ready` also reports `details` (for instance `"publisher": "reconnecting"`):
    /// the state of parts the service works without, which an operator wants to see (the service stays ready
    /// while a broker is away: its events wait in the outbox).
    public func reportingHealth(_ details: @escaping @Sendable () async -> [String: String]) -> UserAPI {
        var api = self
        api.healthDetails = details
        return api
    }

    /// The largest page of `GET /events`.
    static var eventPageLimit: Int { 1000 }

    /// `GET /events?after=P&limit=N`.
    static func addEventRoutes(to router: Router<UserRequestContext>, _ history: any EventHistoryReading) {
        router.get("events") { request, _ in
            let query = request.uri.queryParameters
            var after: EventPosition?
            if let text = query["after"] {
                guard let value = Int64(text), value >= 0 else {
                    throw Problem.badRequest(
                        "invalid-after", "after must be a position (a whole number, 0 or more).", field: "after")
                }
                after = value == 0 ? nil : EventPosition(rawValue: value)
            }
            var limit = 100
            if let text = query["limit"] {
                guard let value = Int(text), (1...eventPageLimit).contains(value) else {
                    throw Problem.badRequest(
                        "invalid-limit", "limit must be a whole number from 1 to \(eventPageLimit).", field: "limit")
                }
                limit = value
            }
            if let trimmed = try await history.trimmedThrough(), (after?.rawValue ?? 0) < trimmed.rawValue {
                throw Problem(
                    .gone, code: "history-trimmed", title: "The history no longer reaches back that far.",
                    detail: "Retention deleted the events up to position \(trimmed.rawValue): a page after "
                        + "\(after?.rawValue ?? 0) would miss some. Pages after \(trimmed.rawValue) are whole.")
            }
            let events = try await history.events(after: after, limit: limit)
            var body: [UInt8] = Array(#"{"items":["#.utf8)
            body.reserveCapacity(events.count * 320 + 32)
            for (index, entry) in events.enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                body.append(contentsOf: #"{"position":\#(entry.position.rawValue),"event":"#.utf8)
                body.append(contentsOf: entry.envelope.jsonData())
                body.append(UInt8(ascii: "}"))
            }
            body.append(UInt8(ascii: "]"))
            if events.count == limit, let last = events.last {
                body.append(contentsOf: #","next":\#(last.position.rawValue)"#.utf8)
            }
            body.append(UInt8(ascii: "}"))
            return Self.json(bytes: body)
        }
    }
}
