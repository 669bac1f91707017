public import ArgumentParser
import Configuration
import Foundation
import ServiceSupport

/// `users-directory serve` (and `users directory serve`): the directory service as a command.
public struct DirectoryServeCommand: AsyncParsableCommand {
    /// The command's name and help.
    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Follow the user events into a directory replica and serve it read-only over HTTP.",
        discussion: """
            Backfills from the user service's GET /events (its token from DIRECTORY_EVENTS_TOKEN when it has \
            tokens), then consumes its own durable queue. Without DIRECTORY_API_TOKENS it serves loopback only. \
            Every option is also a key (directory.source, …) read from the environment (DIRECTORY_SOURCE, …) \
            and from --config, flags first.
            """)

    @Option(
        help: ArgumentHelp(
            "The broker: amqp://user:pass@host:5672/vhost (or amqps://); env DIRECTORY_SOURCE.",
            discussion: "A URL with a password is better given as DIRECTORY_SOURCE: ps shows flags."))
    public var source: String?

    @Option(help: "The user service's topic exchange (env DIRECTORY_EXCHANGE; default users.events).")
    public var exchange: String?

    @Option(help: "The directory's own durable queue (env DIRECTORY_QUEUE; default users.directory).")
    public var queue: String?

    @Option(help: "The user service's base URL, e.g. http://127.0.0.1:8080 (env DIRECTORY_EVENTS).")
    public var events: String?

    @Option(
        help: "The directory's store: sqlite:PATH, postgres://… (a database of its own) or memory: (env DIRECTORY_STORE; default sqlite:directory.sqlite).")
    public var store: String?

    @Option(help: "The address to bind (env DIRECTORY_HOST; default 127.0.0.1).")
    public var host: String?

    @Option(help: "The port to bind (env DIRECTORY_PORT; default 8081).")
    public var port: Int?

    @Option(name: .long, help: "A JSON or YAML configuration file.")
    public var config: String?

    /// Creates the command with no options (ArgumentParser parses them).
    public init() {}

    /// Reads the configuration and serves until SIGINT or SIGTERM; exits 78 for a configuration it can't use,
    /// 69 for an address it can't bind, as the package's other commands.
    public func run() async throws {
        var arguments: [String: ConfigContent] = [:]
        for (key, value) in [
            ("source", source), ("exchange", exchange), ("queue", queue), ("events", events), ("store", store),
            ("host", host),
        ] {
            if let value { arguments["directory." + key] = .string(value) }
        }
        if let port { arguments["directory.port"] = .int(port) }
        // The same exit codes as the other commands: 78 for configuration, 69 for an address that can't be bound.
        try await Exit.reportingSetupErrors {
            let configuration = try DirectoryServiceConfiguration(
                reader: try await ServiceConfiguration.reader(arguments: arguments, file: config))
            try await DirectoryServer.run(configuration: configuration, logger: makeLogger())
        }
    }
}
