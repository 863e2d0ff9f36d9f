"""Use cases: what a route asks for, in terms of the advisor, repositories and transactions."""
