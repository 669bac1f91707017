// `import UserAppCore` is the one import an app needs to wire and use the package: it brings the domain (User,
// UserError, the events), the ports and the use cases (UserUseCases, MessagePublisher, UserStoreError) and the
// in-memory store and bus that `UserSystem` hands out, all of which UserAppCore builds anyway.
@_exported public import UserDomain
@_exported public import UserInMemory
@_exported public import UserPorts
