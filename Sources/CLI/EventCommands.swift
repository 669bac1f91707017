import ArgumentParser
import Foundation
import Logging
import UserApp
import UserDomain
import UserPorts

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look at the event log and the outbox: status, dead events, retries, and a live tail.",
        subcommands: [EventsStatus.self, EventsDead.self, EventsRetry.self, EventsTail.self])
}

/// One event as a JSON line: its position and delivery state, and the envelope's own JSON.
func eventLine(_ event: OutboxEvent) throws -> String {
    var object: [String: Any] = [
        "position": event.position.rawValue, "attempts": event.attempts,
        "event": try JSONSerialization.jsonObject(with: event.envelope.jsonData()),
    ]
    if let error = event.lastError { object["lastError"] = error }
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
}

struct EventsStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Events waiting to be published, the oldest one's age, and dead events.")
    @OptionGroup var options: StoreFlags
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let status = try await withSystem(options) { try await $0.store.outboxStatus() }
        let age = status.oldestPendingAt.map { max(0, Date().timeIntervalSince($0)) }
        if output.json {
            var object: [String: Any] = ["pending": status.pendingCount, "dead": status.deadCount]
            if let age { object["oldestPendingAgeSeconds"] = (age * 1000).rounded() / 1000 }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            let lag = age.map { String(format: ", the oldest %.1f s old", $0) } ?? ""
            print("\(status.pendingCount) pending\(lag); \(status.deadCount) dead")
        }
    }
}

struct EventsDead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead",
        abstract: "List events parked as dead (their users' later events wait behind them), as JSON lines.")
    @OptionGroup var options: StoreFlags
    @Option(help: "List at most this many.") var limit = 100

    func run() async throws {
        let events = try await withSystem(options) { try await $0.store.deadEvents(limit: limit) }
        for event in events { print(try eventLine(event)) }
    }
}

struct EventsRetry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Make dead events due again; the relay of `users serve` publishes them.")
    @OptionGroup var options: StoreFlags
    @Argument(help: "Positions of dead events (see `users events dead`).") var positions: [Int64] = []
    @Flag(help: "Retry every dead event.") var all = false

    func validate() throws {
        if all == !positions.isEmpty { throw ValidationError("Give positions, or --all.") }
    }

    func run() async throws {
        let chosen = all ? nil : positions.map { EventPosition(rawValue: $0) }
        let count = try await withSystem(options) { try await $0.store.retryDeadEvents(chosen) }
        print("\(count) dead events due again")
    }
}

struct EventsTail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail", abstract: "Print the event log as JSON lines, then follow it live (Ctrl-C ends).")
    @OptionGroup var options: StoreFlags
    @Option(help: "Start after this position (0: from the first kept event).") var after: Int64 = 0
    @Flag(help: "Stop at the end of the log instead of following it.") var noFollow = false

    func run() async throws {
        try await withSystem(options) { system in
            var position: EventPosition? = after > 0 ? EventPosition(rawValue: after) : nil
            while !Task.isCancelled {
                let seen = system.store.commitSignal.generation
                let events = try await system.store.events(after: position, limit: 500)
                // Written straight to the file descriptor: a follower sees each line at once, even through a pipe.
                let lines = try events.map { try eventLine($0) + "\n" }.joined()
                FileHandle.standardOutput.write(Data(lines.utf8))
                position = events.last?.position ?? position
                if events.count == 500 { continue }
                if noFollow { return }
                // Commits of this process raise the signal; those of others are seen by the poll.
                _ = await system.store.commitSignal.wait(after: seen, timeout: .milliseconds(500))
            }
        }
    }
}

struct Projections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Maintain the read models kept from the event log.", subcommands: [ProjectionsRebuild.self])
}

struct ProjectionsRebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Empty the directory read model and replay the whole event log into it.",
        discussion: "Refused (exit 78) when retention has trimmed the log: a rebuild must see every event.")
    @OptionGroup var options: StoreFlags

    func run() async throws {
        let (count, statistics) = try await withSystem(options) { system in
            // The CLI's systems keep the directory (its options are the configuration's, `directory` on).
            guard let projection = system.projection, let directory = system.directory else {
                throw ConfigurationError(key: "users.directory", "This system keeps no directory to rebuild.")
            }
            let result = try await projection.rebuild()
            return (result.applied + result.duplicates + result.gaps, try await directory.statistics())
        }
        print(
            "directory rebuilt from \(count) events: \(statistics.active) active, \(statistics.deactivated) deactivated"
        )
    }
}
