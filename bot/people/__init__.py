"""The people who use the console: users, roles, invites, passwords, second factors,
sessions and the audit log. No web or CLI imports: both build on this."""
