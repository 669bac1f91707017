// `import UserApp` brings the wiring it builds on (UserSystem, stores by URL, publishers, ConfigurationError),
// so that an app importing the full server needs no second import.
@_exported public import UserAppCore
@_exported public import ServiceSupport
