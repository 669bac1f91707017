import Foundation
import Logging
import UserDomain
import UserPorts

// The outbox: events committed with their change, delivery state, dead letters, the history, the lease.
extension UserStoreContract {
    static let outboxChecks: [Check] = [
        check("a save commits its events with the change", .outbox) { f in
            let change = try f.registration(email: "Events@Example.com", name: "Eve")
            let position = try await f.store.save(change.user, expectedVersion: 0, events: change.events)
            let events = try await f.allEvents()
            try f.expect.equal(events.map(\.envelope), change.events, "the outbox after one registration")
            try f.expect.equal(position, events.last?.position, "the position save returned")
        },
        check("every event type survives the round trip", .outbox) { f in
            let user = try await f.register(email: "trip@example.com", name: "Trip")
            var expected = try await f.allEvents().map(\.envelope)
            var current = user
            let steps: [@Sendable (User, Date, UUID) throws -> UserChange] = [
                { u, n, i in try u.renamed(to: DisplayName("Trip Renamed"), at: n, eventID: i) },
                { u, n, i in try u.changingEmail(to: EmailAddress("Trip@Elsewhere.org"), at: n, eventID: i) },
                { u, n, i in u.deactivated(at: n, eventID: i) },
                { u, n, i in u.reactivated(at: n, eventID: i) },
            ]
            for step in steps {
                let change = try step(current, f.now(), Fixture.ids.makeEventID())
                try await f.store.save(change.user, expectedVersion: current.version, events: change.events)
                expected += change.events
                current = change.user
            }
            let deletion = current.deleted(at: f.now())
            try await f.store.delete(id: user.id, expectedVersion: current.version, events: deletion.events)
            expected += deletion.events
            let stored = try await f.allEvents().map(\.envelope)
            try f.expect.equal(stored, expected, "the event log")
            try f.expect.equal(stored.map(\.type), UserEvent.typeNames, "event types")
        },
        check("a save without events writes the change and no event", .outbox) { f in
            let change = try f.registration()
            let position = try await f.store.save(change.user, expectedVersion: 0, events: [])
            try f.expect.isNil(position, "save without events returns no position")
            try f.expect.equal(try await f.store.user(id: change.user.id), change.user, "the saved user")
            try f.expect.equal(try await f.allEvents().count, 0, "events")
        },
        check("positions grow in commit order across users", .outbox) { f in
            var returned: [EventPosition] = []
            for index in 0..<5 {
                let change = try f.registration(id: Fixture.orderedID(100 - index))
                returned.append(
                    try f.expect.unwrap(
                        try await f.store.save(change.user, expectedVersion: 0, events: change.events), "position"))
            }
            let events = try await f.allEvents()
            try f.expect.equal(events.map(\.position), returned, "positions in the outbox")
            try f.expect.equal(returned, returned.sorted(), "positions in commit order")
            try f.expect.equal(Set(returned).count, 5, "distinct positions")
        },
        check("the events of one user are in version order", .outbox) { f in
            var user = try await f.register(name: "V1")
            for version in 2...6 { user = try await f.rename(user, "V\(version)") }
            let versions = try await f.allEvents().filter { $0.envelope.userID == user.id }.map(\.envelope.userVersion)
            try f.expect.equal(versions, [1, 2, 3, 4, 5, 6], "user versions in position order")
        },
        check("published events are no longer unpublished and the limit is honoured", .outbox) { f in
            for _ in 0..<5 { try await f.register() }
            let first = try await f.store.unpublishedEvents(limit: 2)
            try f.expect.equal(first.count, 2, "events with limit 2")
            try await f.store.markPublished(first.map(\.position))
            let rest = try await f.store.unpublishedEvents(limit: 10)
            try f.expect.equal(rest.count, 3, "unpublished after marking 2 of 5")
            try f.expect.that(rest.allSatisfy { $0.position > first[1].position }, "the rest follows the first two")
            try await f.store.markPublished(rest.map(\.position))
            try f.expect.equal(try await f.store.unpublishedEvents(limit: 10).count, 0, "unpublished after all")
        },
        check("marking unknown or already published positions is harmless", .outbox) { f in
            try await f.register()
            try await f.register()
            let events = try await f.allEvents()
            try f.expect.equal(events.count, 2, "events of two registrations")
            try await f.store.markPublished([events[0].position])
            try await f.store.markPublished([events[0].position, EventPosition(rawValue: 999_999)])
            try f.expect.equal(try await f.allEvents(), [events[1]], "unpublished events")
            try await f.store.markPublished([])
        },
        check("a commit with events raises the commit signal", .outbox) { f in
            let before = f.store.commitSignal.generation
            try await f.register()
            try f.expect.that(f.store.commitSignal.generation > before, "the signal's generation after a save")
        },
    ]

    static let deliveryChecks: [Check] = [
        check("a failed event waits for its retry time and holds back its user's later events only", .outbox) { f in
            let ada = try await f.register(email: "ada@example.com")
            try await f.rename(ada, "Ada Two")
            try await f.register(email: "bob@example.com")
            let all = try await f.allEvents()
            try f.expect.equal(all.count, 3, "events")
            try await f.store.markFailed(
                all[0].position, reason: "broker down", retryAt: Date().addingTimeInterval(3600))
            try f.expect.equal(
                try await f.store.unpublishedEvents(limit: 10).map(\.position), [all[2].position],
                "due events while Ada's first waits")
            try await f.store.markFailed(all[0].position, reason: "still down", retryAt: Date().addingTimeInterval(-1))
            let due = try await f.store.unpublishedEvents(limit: 10)
            try f.expect.equal(due.map(\.position), all.map(\.position), "due events once the retry time passed")
            try f.expect.equal(due[0].attempts, 2, "attempts after two failures")
            try f.expect.equal(due[0].lastError, "still down", "the last error")
            try f.expect.equal(due[1].attempts, 0, "attempts of an event never tried")
        },
        check("a dead event is listed, holds back its user, and is revived by a retry", .outbox) { f in
            let ada = try await f.register(email: "ada@example.com")
            try await f.rename(ada, "Ada Two")
            try await f.register(email: "bob@example.com")
            let all = try await f.allEvents()
            try f.expect.equal(all.count, 3, "events in the outbox")
            try await f.store.markFailed(all[0].position, reason: "rejected", retryAt: nil)
            try f.expect.equal(try await f.store.deadEvents(limit: 10).map(\.position), [all[0].position], "dead")
            try f.expect.equal(
                try await f.store.unpublishedEvents(limit: 10).map(\.position), [all[2].position], "due with one dead")
            let status = try await f.store.outboxStatus()
            try f.expect.equal(status.deadCount, 1, "dead count")
            try f.expect.equal(status.pendingCount, 2, "pending count (a held event is pending)")
            try f.expect.equal(status.oldestPendingAt, all[1].envelope.occurredAt, "the oldest pending time")
            try f.expect.equal(try await f.store.retryDeadEvents(nil), 1, "revived")
            try f.expect.equal(try await f.store.deadEvents(limit: 10).count, 0, "dead after the retry")
            let due = try await f.store.unpublishedEvents(limit: 10)
            try f.expect.equal(due.map(\.position), all.map(\.position), "due after the retry")
            try f.expect.equal(due[0].attempts, 0, "attempts reset")
            try f.expect.isNil(due[0].lastError, "last error cleared")
        },
        check("events published past a held user stay pending until it is revived, then go in order", .outbox) { f in
            let ada = try await f.register(email: "ada@example.com")
            try await f.register(email: "bob@example.com")
            try await f.rename(ada, "Ada Two")
            try await f.register(email: "cy@example.com")
            let events = try await f.allEvents()
            let all = events.map(\.position)
            try f.expect.equal(all.count, 4, "events in the outbox")
            try await f.store.markFailed(all[0], reason: "rejected", retryAt: nil)
            try f.expect.equal(try await f.store.unpublishedEvents(limit: 10).map(\.position), [all[1], all[3]], "due")
            try await f.store.markPublished([all[1], all[3]])
            try f.expect.equal(try await f.store.unpublishedEvents(limit: 10).count, 0, "due while Ada's is dead")
            let dan = try await f.register(email: "dan@example.com")
            let dans = try await f.store.events(after: all[3], limit: 10).map(\.position)
            try f.expect.equal(dans.count, 1, "Dan's event")
            try f.expect.equal(try await f.store.unpublishedEvents(limit: 10).map(\.position), dans, "due: Dan's")
            try await f.store.markPublished(dans)
            try f.expect.equal(
                try await f.store.outboxStatus(),
                OutboxStatus(pendingCount: 1, oldestPendingAt: events[2].envelope.occurredAt, deadCount: 1), "status")
            try f.expect.equal(try await f.store.retryDeadEvents(nil), 1, "revived")
            try f.expect.equal(
                try await f.store.unpublishedEvents(limit: 10).map(\.position), [all[0], all[2]], "due after the retry")
            try await f.store.markPublished([all[0]])
            try await f.store.markFailed(all[2], reason: "busy", retryAt: Date().addingTimeInterval(3600))
            try await f.rename(dan, "Dan Two")
            let last = try await f.store.events(after: dans[0], limit: 10).map(\.position)
            try f.expect.equal(last.count, 1, "Dan's second event")
            try f.expect.equal(
                try await f.store.unpublishedEvents(limit: 10).map(\.position), last, "due while Ada's waits")
            try await f.store.markPublished(last)
            try await f.store.markFailed(all[2], reason: "busy", retryAt: Date().addingTimeInterval(-1))
            try f.expect.equal(try await f.store.unpublishedEvents(limit: 10).map(\.position), [all[2]], "due again")
            try await f.store.markPublished([all[2]])
            try f.expect.equal(try await f.store.unpublishedEvents(limit: 10).count, 0, "due at the end")
            try f.expect.equal(
                try await f.store.outboxStatus(), OutboxStatus(pendingCount: 0, oldestPendingAt: nil, deadCount: 0),
                "status at the end")
        },
        check("a retry of chosen dead positions revives only those", .outbox) { f in
            try await f.register()
            try await f.register()
            let all = try await f.allEvents()
            try f.expect.equal(all.count, 2, "events in the outbox")
            for event in all { try await f.store.markFailed(event.position, reason: "no", retryAt: nil) }
            try f.expect.equal(try await f.store.retryDeadEvents([all[1].position]), 1, "revived")
            try f.expect.equal(try await f.store.deadEvents(limit: 10).map(\.position), [all[0].position], "still dead")
            try f.expect.equal(try await f.store.retryDeadEvents([all[1].position]), 0, "reviving a live event")
        },
        check("recording a failure of a published or unknown event changes nothing", .outbox) { f in
            try await f.register()
            let all = try await f.allEvents()
            try f.expect.equal(all.count, 1, "events in the outbox")
            try await f.store.markPublished([all[0].position])
            try await f.store.markFailed(all[0].position, reason: "late", retryAt: nil)
            try await f.store.markFailed(EventPosition(rawValue: 999_999), reason: "unknown", retryAt: nil)
            try f.expect.equal(try await f.store.deadEvents(limit: 10).count, 0, "dead events")
            try f.expect.equal(
                try await f.store.outboxStatus(), OutboxStatus(pendingCount: 0, oldestPendingAt: nil, deadCount: 0),
                "status")
        },
        check("the history keeps published events in order; retention deletes only old published ones", .outbox) { f in
            for _ in 0..<4 { try await f.register() }
            let all = try await f.allEvents()
            try f.expect.equal(all.count, 4, "events in the outbox")
            try await f.store.markPublished([all[0].position, all[1].position, all[2].position])
            try await f.store.markFailed(all[3].position, reason: "no", retryAt: nil)
            try f.expect.equal(
                try await f.store.events(after: nil, limit: 10),
                all.enumerated().map { index, event in
                    index == 3
                        ? OutboxEvent(position: event.position, envelope: event.envelope, attempts: 1, lastError: "no")
                        : event
                }, "the whole history")
            try f.expect.equal(
                try await f.store.events(after: all[0].position, limit: 2).map(\.position),
                [all[1].position, all[2].position], "after the first, two at most")
            try f.expect.equal(try await f.store.trimmedThrough(), nil, "trimmedThrough before any trimming")
            try f.expect.equal(
                try await f.store.deletePublishedEvents(before: all[1].envelope.occurredAt), 1,
                "deleted before the second")
            try f.expect.equal(try await f.store.trimmedThrough(), all[0].position, "trimmedThrough: the deleted one")
            try f.expect.equal(
                try await f.store.deletePublishedEvents(before: Date().addingTimeInterval(3600)), 2, "deleted the rest")
            try f.expect.equal(
                try await f.store.trimmedThrough(), all[2].position,
                "trimmedThrough: the highest deleted, not the dead one")
            try f.expect.equal(
                try await f.store.events(after: nil, limit: 10).map(\.position), [all[3].position], "kept: the dead one"
            )
        },
        check("the relay lease has one holder at a time, renewed by it, free after release or expiry", .outbox) { f in
            try f.expect.that(try await f.store.acquireRelayLease(owner: "a", duration: .seconds(30)), "a takes it")
            try f.expect.that(
                !(try await f.store.acquireRelayLease(owner: "b", duration: .seconds(30))), "b is refused")
            try f.expect.that(try await f.store.acquireRelayLease(owner: "a", duration: .seconds(30)), "a renews it")
            try await f.store.releaseRelayLease(owner: "b")
            try f.expect.that(
                !(try await f.store.acquireRelayLease(owner: "b", duration: .seconds(30))), "b can't free it")
            try await f.store.releaseRelayLease(owner: "a")
            try f.expect.that(try await f.store.acquireRelayLease(owner: "b", duration: .milliseconds(50)), "b after a")
            try await Task.sleep(for: .milliseconds(200))
            try f.expect.that(try await f.store.acquireRelayLease(owner: "c", duration: .seconds(30)), "c after expiry")
        },
    ]
}
