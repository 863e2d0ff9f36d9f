"""HTTP routes: typed parameters and dependencies, one service call, return."""
