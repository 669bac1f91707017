package import ArgumentParser
public import Configuration
import Foundation
package import Logging
import Metrics
public import Prometheus
import SystemPackage
package import UserAppCore
package import UserPorts

/// The metrics backend of a service process.
public enum ServiceMetrics {
    /// The Prometheus registry behind swift-metrics in this process: installed as the `MetricsSystem` backend
    /// the first time it is read. An application that bootstraps its own metrics backend must not read it:
    /// swift-metrics can be bootstrapped only once per process.
    public static let prometheus: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()
}

/// A service's address could not be bound (in use, not permitted).
public struct ListenError: Error, CustomStringConvertible {
    /// The address asked for, `host:port`.
    public let address: String
    /// What the system reported.
    public let underlying: any Error

    /// Creates an error.
    public init(address: String, underlying: any Error) {
        self.address = address
        self.underlying = underlying
    }

    /// A sentence for the operator.
    public var description: String { "Can't listen on \(address): \(underlying)." }
}

/// How every service of the package reads its configuration.
public enum ServiceConfiguration {
    /// A reader of `arguments` (already parsed options, as keys), then the environment (the process's when
    /// `nil`), then the file (JSON, or YAML for `.yaml`/`.yml`); the defaults are the reading code's.
    ///
    /// - Throws: `ConfigurationError` for `--config` when the file can't be read or parsed (its content is never
    ///   shown: it may hold secrets).
    public static func reader(
        arguments: [String: ConfigContent], environment: [String: String]? = nil, file: String? = nil
    ) async throws -> ConfigReader {
        let environment = environment ?? ProcessInfo.processInfo.environment
        var providers: [any ConfigProvider] = [
            InMemoryProvider(
                name: "arguments",
                values: Dictionary(
                    uniqueKeysWithValues: arguments.map { key, value in
                        (
                            AbsoluteConfigKey(key.split(separator: ".").map(String.init)),
                            ConfigValue(value, isSecret: false)
                        )
                    })),
            EnvironmentVariablesProvider(environmentVariables: environment),
        ]
        if let file {
            // The file's parse error quotes the offending line, which may hold a password: not shown.
            do {
                if file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
                    providers.append(try await FileProvider<YAMLSnapshot>(filePath: .init(file)))
                } else {
                    providers.append(try await FileProvider<JSONSnapshot>(filePath: .init(file)))
                }
            } catch {
                let format = file.hasSuffix(".yaml") || file.hasSuffix(".yml") ? "YAML" : "JSON"
                throw ConfigurationError(
                    key: "--config",
                    "The configuration file \(file) can't be read as \(format) (missing, unreadable, or not valid "
                        + "\(format)); its content is not shown, as it may hold secrets.")
            }
        }
        return ConfigReader(providers: providers)
    }
}

/// Exit codes that tell outcomes apart (sysexits.h where one fits), the same for every command of the package's
/// executables.
package enum Exit {
    package static let notFound = ExitCode(3)
    package static let conflict = ExitCode(4)
    package static let invalidInput = ExitCode(65)  // EX_DATAERR
    package static let noInput = ExitCode(66)  // EX_NOINPUT
    package static let unavailable = ExitCode(69)  // EX_UNAVAILABLE
    package static let configuration = ExitCode(78)  // EX_CONFIG

    /// Runs `body` and turns a `ConfigurationError` or a `UserStoreError` it throws into a message on stderr
    /// and its exit code (`report(_:)`), and a ``ListenError`` into 69; other errors pass through.
    package static func reportingSetupErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ConfigurationError {
            throw report(error)
        } catch let error as UserStoreError {
            throw report(error)
        } catch let error as ListenError {
            FileHandle.standardError.write(Data("\(command): \(error.description)\n".utf8))
            throw unavailable
        }
    }

    /// The executable's name, for its messages.
    package static var command: String {
        (CommandLine.arguments.first.map { ($0 as NSString).lastPathComponent }) ?? "users"
    }

    /// Writes a configuration error to stderr, naming its key and `--help` where the message (written for
    /// embedding apps too) does not, and returns 78 (EX_CONFIG).
    package static func report(_ error: ConfigurationError) -> ExitCode {
        let named = error.description.contains(error.key) ? "" : " (\(error.key); see --help)"
        FileHandle.standardError.write(Data("\(command): \(error.description)\(named)\n".utf8))
        return configuration
    }

    /// Writes a store error to stderr and returns its exit code: 78 for what the operator must fix in the
    /// configuration or the store (a bad URL or option, a schema this version can't use, a trimmed history, a
    /// migration conflict), 69 for a store that can't be reached or used.
    package static func report(_ error: UserStoreError) -> ExitCode {
        FileHandle.standardError.write(Data("\(command): \(error.description)\n".utf8))
        return error.code == .invalidConfiguration || error.code == .incompatibleSchema
            || error.code == .historyTrimmed || error.code == .migrationConflict ? configuration : unavailable
    }
}

/// The logger of a service process: one line per record on stderr (``LineLogHandler``), at `USERS_LOG_LEVEL`
/// or `defaultLevel`.
package func makeLogger(label: String = "users", defaultLevel: Logger.Level = .info) -> Logger {
    var logger = Logger(label: label) { LineLogHandler(label: $0) }
    logger.logLevel =
        ProcessInfo.processInfo.environment["USERS_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? defaultLevel
    return logger
}
