// `import UserDirectoryService` brings the plumbing its API is made of (`HTTPConnectionLimits`, `ListenError`,
// `ServiceConfiguration`), which lives in ServiceSupport, shared with the user service.
@_exported public import ServiceSupport
