// swift-tools-version: 6.2

import PackageDescription

/// The HTTP stack that both services' HTTP modules (ServiceSupport, UserHTTP) build on, with the trait `Service`.
let httpStack: [Target.Dependency] = [
    .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Service"])),
    .product(name: "HummingbirdCore", package: "hummingbird", condition: .when(traits: ["Service"])),
    .product(name: "Logging", package: "swift-log"),
    .product(name: "Metrics", package: "swift-metrics"),
    .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["Service"])),
    .product(name: "NIOHTTP1", package: "swift-nio", condition: .when(traits: ["Service"])),
    .product(name: "NIOHTTPTypes", package: "swift-nio-extras", condition: .when(traits: ["Service"])),
    .product(name: "HTTPTypes", package: "swift-http-types", condition: .when(traits: ["Service"])),
]

let package = Package(
    name: "swift-user-domain",
    products: [
        .library(name: "UserDomain", targets: ["UserDomain"]),
        .library(name: "UserPorts", targets: ["UserPorts"]),
        .library(name: "UserPortsTesting", targets: ["UserPortsTesting"]),
        .library(name: "UserInMemory", targets: ["UserInMemory"]),
        .library(name: "UserSQLite", targets: ["UserSQLite"]),
        .library(name: "UserPostgres", targets: ["UserPostgres"]),
        .library(name: "UserHTTP", targets: ["UserHTTP"]),
        .library(name: "UserRabbitMQ", targets: ["UserRabbitMQ"]),
        .library(name: "UserRedis", targets: ["UserRedis"]),
        .library(name: "UserAppCore", targets: ["UserAppCore"]),
        .library(name: "UserApp", targets: ["UserApp"]),
        .library(name: "UserDirectoryService", targets: ["UserDirectoryService"]),
        .executable(name: "users", targets: ["users"]),
        .executable(name: "users-directory", targets: ["users-directory"]),
    ],
    // What an embedding app builds: the ports, the in-memory store and UserAppCore's wiring always; each adapter
    // and its C library, and the HTTP service's packages, only with its trait. A dependency that names traits
    // (`traits: ["SQLite"]`) gets only those; without, it gets the defaults (everything `users serve` needs).
    traits: [
        .trait(name: "SQLite", description: "UserAppCore opens sqlite:PATH stores (UserSQLite, libsqlite3)."),
        .trait(name: "PostgreSQL", description: "UserAppCore opens postgres:// stores (UserPostgres, libpq)."),
        .trait(
            name: "RabbitMQ",
            description: "UserAppCore publishes to amqp:// brokers (UserRabbitMQ, rabbitmq-c)."),
        .trait(
            name: "Service",
            description:
                "The HTTP service (UserHTTP, UserApp, the users command) and its packages: Hummingbird, NIO, "
                + "swift-configuration, Prometheus, ArgumentParser. Enables the three adapters.",
            enabledTraits: ["SQLite", "PostgreSQL", "RabbitMQ"]),
        .default(enabledTraits: ["Service"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // `swift package generate-documentation`: the test command builds every module's DocC with warnings as errors.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // Only for the tests, which read the OpenAPI document (swift-configuration's YAML trait builds it anyway).
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // The pure core: values, rules, events, errors. Foundation at most, no I/O.
        .target(
            name: "UserDomain",
            path: "Sources/Domain"
        ),
        // What the core needs (driven ports) and what it offers (use cases, the outbox relay).
        .target(
            name: "UserPorts",
            dependencies: [
                "UserDomain",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Ports"
        ),
        // The contract suite every store adapter runs, and recording fakes.
        .target(
            name: "UserPortsTesting",
            dependencies: [
                "UserDomain", "UserPorts",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            path: "Sources/PortsTesting"
        ),
        // Plumbing shared by the adapters that own C connections (a queue executor, the cancellation gate); the
        // ports don't depend on it.
        .target(
            name: "UserAdapterSupport",
            dependencies: ["UserPorts"],
            path: "Sources/Adapters/Support"
        ),
        // Actor-based adapters: for tests and for embedding without a database.
        .target(
            name: "UserInMemory",
            dependencies: [
                "UserAdapterSupport", "UserDomain", "UserPorts",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Adapters/InMemory"
        ),

        // libsqlite3, found through pkg-config (Debian: libsqlite3-dev).
        .systemLibrary(
            name: "CSQLite",
            path: "Sources/Adapters/CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // SQLite's process-wide settings (memory statistics off, adaptive mutexes), in C: `sqlite3_config` is
        // variadic and its mutex methods are C callbacks.
        .target(
            name: "CSQLiteSupport",
            path: "Sources/Adapters/CSQLiteSupport",
            linkerSettings: [.linkedLibrary("sqlite3")]
        ),
        // The embedded store: one writer and a pool of readers in WAL mode, each on its own queue.
        .target(
            name: "UserSQLite",
            dependencies: [
                "CSQLite", "CSQLiteSupport", "UserAdapterSupport", "UserDomain", "UserPorts",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Adapters/SQLite"
        ),
        // libpq, found through pkg-config (Debian: libpq-dev).
        .systemLibrary(
            name: "CLibPQ",
            path: "Sources/Adapters/CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // The shared store: a bounded pool of libpq connections, each on its own queue, and a LISTEN thread.
        .target(
            name: "UserPostgres",
            dependencies: [
                "CLibPQ", "UserAdapterSupport", "UserDomain", "UserPorts",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Adapters/Postgres"
        ),
        // rabbitmq-c 0.11, found through pkg-config (Debian: librabbitmq-dev).
        .systemLibrary(
            name: "CRabbitMQ",
            path: "Sources/Adapters/CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        // The broker adapter: a confirming MessagePublisher and an acknowledging consumer, each connection on
        // a thread of its own.
        .target(
            name: "UserRabbitMQ",
            dependencies: [
                "CRabbitMQ", "UserAdapterSupport", "UserDomain", "UserPorts",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Adapters/RabbitMQ"
        ),
        // hiredis 0.14 (Debian: libhiredis-dev), in the system's include and library paths. Not through
        // pkg-config: its flags carry -D_FILE_OFFSET_BITS=64, which SwiftPM refuses (with a warning each build).
        .systemLibrary(
            name: "CHiredis",
            path: "Sources/Adapters/CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        // A directory replica in Redis (the read side of CQRS in a store built for reads), each connection on a
        // queue of its own.
        .target(
            name: "UserRedis",
            dependencies: [
                "CHiredis", "UserAdapterSupport", "UserDomain", "UserPorts",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Adapters/Redis"
        ),
        // What both services' HTTP sides and commands share: problems, request ids, bearer tokens, connection
        // limits, the directory's routes, configuration reading, metrics, exit codes. Neither service's own code.
        .target(
            name: "ServiceSupport",
            dependencies: [
                "UserAppCore", "UserDomain", "UserPorts",
                .product(name: "ArgumentParser", package: "swift-argument-parser", condition: .when(traits: ["Service"])),
                .product(name: "Configuration", package: "swift-configuration", condition: .when(traits: ["Service"])),
                .product(name: "Prometheus", package: "swift-prometheus", condition: .when(traits: ["Service"])),
                .product(name: "SystemPackage", package: "swift-system", condition: .when(traits: ["Service"])),
            ] + httpStack,
            path: "Sources/Shared/ServiceSupport"
        ),
        // The driving HTTP adapter: REST on Hummingbird 2, errors as RFC 9457 problem+json.
        .target(
            name: "UserHTTP",
            dependencies: [
                "ServiceSupport", "UserDomain", "UserPorts",
            ] + httpStack,
            path: "Sources/Adapters/HTTP",
            // The OpenAPI document, served as is at GET /openapi.yaml.
            resources: [.copy("openapi.yaml")]
        ),
        // The wiring without the HTTP stack: stores opened by URL, publishers, `UserSystem`. What an app that
        // embeds the user domain links.
        .target(
            name: "UserAppCore",
            dependencies: [
                "UserAdapterSupport", "UserDomain", "UserPorts", "UserInMemory",
                .target(name: "UserSQLite", condition: .when(traits: ["SQLite"])),
                .target(name: "UserPostgres", condition: .when(traits: ["PostgreSQL"])),
                .target(name: "UserRabbitMQ", condition: .when(traits: ["RabbitMQ"])),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/App/Core"
        ),
        // Configuration -> a running `users serve`: swift-configuration, the HTTP server, Prometheus.
        .target(
            name: "UserApp",
            dependencies: [
                "ServiceSupport", "UserAppCore", "UserDomain", "UserPorts", "UserHTTP", "UserInMemory", "UserSQLite",
                "UserPostgres", "UserRabbitMQ",
                .product(name: "Configuration", package: "swift-configuration", condition: .when(traits: ["Service"])),
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Service"])),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system", condition: .when(traits: ["Service"])),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus", condition: .when(traits: ["Service"])),
                .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["Service"])),
            ],
            path: "Sources/App/Server"
        ),
        // The `users` command: a few lines over UserApp.
        .executableTarget(
            name: "users",
            dependencies: [
                "ServiceSupport", "UserApp", "UserDirectoryService", "UserDomain", "UserPorts", "UserHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser", condition: .when(traits: ["Service"])),
                .product(name: "Configuration", package: "swift-configuration", condition: .when(traits: ["Service"])),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/CLI"
        ),
        // The directory service, a slice of its own: a follower of the user events (backfilled from the user
        // service's history, fed by its broker queue) into a replica of its own kind, and a read-only HTTP API.
        // It depends on the domain, the ports, the replicas and the broker adapter, never on the user service's
        // HTTP module.
        .target(
            name: "UserDirectoryService",
            dependencies: [
                "ServiceSupport", "UserAppCore", "UserDomain", "UserPorts", "UserInMemory", "UserSQLite", "UserPostgres",
                "UserRabbitMQ", "UserRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser", condition: .when(traits: ["Service"])),
                .product(name: "Configuration", package: "swift-configuration", condition: .when(traits: ["Service"])),
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Service"])),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["Service"])),
                .product(name: "Prometheus", package: "swift-prometheus", condition: .when(traits: ["Service"])),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Directory/Service"
        ),
        // `users-directory serve`: the directory service's own executable.
        .executableTarget(
            name: "users-directory",
            dependencies: [
                "UserDirectoryService",
                .product(name: "ArgumentParser", package: "swift-argument-parser", condition: .when(traits: ["Service"])),
            ],
            path: "Sources/Directory/CLI"
        ),
        // A child process for the SQLite crash-durability test: registers users until it is killed.
        .executableTarget(
            name: "sqlite-crash-writer",
            dependencies: ["UserSQLite", "UserPorts", "UserDomain"],
            path: "Sources/Tools/SQLiteCrashWriter"
        ),

        .testTarget(
            name: "UserDomainTests",
            dependencies: ["UserDomain"]
        ),
        .testTarget(
            name: "UserPortsTests",
            dependencies: [
                "UserDomain", "UserPorts", "UserPortsTesting", "UserInMemory",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "UserPortsTestingTests",
            dependencies: ["UserDomain", "UserPorts", "UserPortsTesting", "UserInMemory"]
        ),
        .testTarget(
            name: "UserInMemoryTests",
            dependencies: [
                "UserDomain", "UserPorts", "UserPortsTesting", "UserInMemory",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "UserPostgresTests",
            dependencies: [
                "UserDomain", "UserPorts", "UserPortsTesting", "UserPostgres", "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "UserRedisTests",
            dependencies: [
                "UserDomain", "UserPorts", "UserPortsTesting", "UserRedis",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "UserRabbitMQTests",
            dependencies: [
                "UserDomain", "UserPorts", "UserPortsTesting", "UserInMemory", "UserSQLite", "UserRabbitMQ",
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "UserHTTPTests",
            dependencies: [
                "UserAppCore", "UserDomain", "UserPorts", "UserInMemory", "UserSQLite", "UserPostgres", "UserHTTP", "ServiceSupport",
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Service"])),
                .product(name: "HummingbirdTesting", package: "hummingbird", condition: .when(traits: ["Service"])),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["Service"])),
                .product(name: "NIOEmbedded", package: "swift-nio", condition: .when(traits: ["Service"])),
                .product(name: "NIOPosix", package: "swift-nio", condition: .when(traits: ["Service"])),
                .product(name: "HTTPTypes", package: "swift-http-types", condition: .when(traits: ["Service"])),
                .product(name: "Yams", package: "Yams", condition: .when(traits: ["Service"])),
            ]
        ),
        .testTarget(
            name: "UserAppTests",
            dependencies: [
                "ServiceSupport", "UserApp", "UserAppCore", "UserDomain", "UserPorts", "UserPortsTesting", "UserHTTP", "UserInMemory",
                "UserSQLite", "UserRabbitMQ", "users",
                .product(name: "Configuration", package: "swift-configuration", condition: .when(traits: ["Service"])),
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Service"])),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "UserDirectoryServiceTests",
            dependencies: [
                "ServiceSupport", "UserDirectoryService", "UserAppCore", "UserDomain", "UserPorts", "UserPortsTesting",
                "UserHTTP", "UserInMemory", "UserSQLite", "UserRabbitMQ", "UserRedis", "users", "users-directory",
                .product(name: "Configuration", package: "swift-configuration", condition: .when(traits: ["Service"])),
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Service"])),
                .product(name: "HummingbirdTesting", package: "hummingbird", condition: .when(traits: ["Service"])),
                .product(name: "HTTPTypes", package: "swift-http-types", condition: .when(traits: ["Service"])),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "UserSQLiteTests",
            dependencies: [
                "UserDomain", "UserPorts", "UserPortsTesting", "UserSQLite", "CSQLite", "sqlite-crash-writer",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)

// The same language settings for every target of ours (after swift-log's Package.swift).
for target in package.targets where [.regular, .test, .executable].contains(target.type) {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    // Require `any` for existential types (SE-0335).
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    // Only what a file imports is visible in it (SE-0444).
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    // Imports are internal unless marked `public import` (SE-0409): no accidental API leaks.
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
