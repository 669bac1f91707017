import ArgumentParser
import Foundation
import UserApp

struct Directory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The directory as a second service: its own database, fed from the user events on RabbitMQ.",
        subcommands: [DirectoryServe.self])
}

struct DirectoryServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Follow the user events into a directory replica and serve it read-only over HTTP.",
        discussion: """
            Backfills from the user service's GET /events (token from USERS_EVENTS_TOKEN when it has tokens), \
            then consumes its own durable queue. Without USERS_API_TOKENS it serves loopback only.
            """)

    @Option(
        help: ArgumentHelp(
            "The broker: amqp://user:pass@host:5672/vhost (or amqps://); env USERS_DIRECTORY_SOURCE.",
            discussion: "A URL with a password is better given as USERS_DIRECTORY_SOURCE: ps shows flags."))
    var source: String?

    @Option(help: "The user service's topic exchange.")
    var exchange = "users.events"

    @Option(help: "The directory's own durable queue.")
    var queue = "users.directory"

    @Option(help: "The user service's base URL, e.g. http://127.0.0.1:8080.")
    var events: String

    @Option(help: "The directory's store: sqlite:PATH, postgres://… (a database of its own) or memory:.")
    var store = "sqlite:directory.sqlite"

    @Option(help: "The address to bind.")
    var host = "127.0.0.1"

    @Option(help: "The port to bind.")
    var port = 8081

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let source = source ?? environment["USERS_DIRECTORY_SOURCE"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw ValidationError("Name the broker with --source or USERS_DIRECTORY_SOURCE.")
        }
        do {
            try await Exit.reportingSetupErrors {
                let tokens = try DirectoryServiceConfiguration.apiTokens(
                    from: try await UserAppConfiguration.reader(arguments: [:]))
                let configuration = DirectoryServiceConfiguration(
                    source: source, exchange: exchange, queue: queue, events: events,
                    eventsToken: environment["USERS_EVENTS_TOKEN"], store: store, host: host, port: port,
                    apiTokens: tokens)
                try await DirectoryServer.run(configuration: configuration, logger: makeLogger())
            }
        } catch let error as UserServer.ListenError {
            FileHandle.standardError.write(Data("users: \(error.description)\n".utf8))
            throw Exit.unavailable
        }
    }
}
