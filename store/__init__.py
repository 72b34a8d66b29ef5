"""The async event store on asyncpg and the command service on top of it: the only writer of events."""
